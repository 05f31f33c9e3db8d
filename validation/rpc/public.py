"""vtt's answers for published multi-box llama.cpp RPC runs (nothing here is fitted to them).

    python validation/rpc/public.py    # prints the markdown tables quoted in REPORT.md

Links are declared from the hardware (specs/links); where a run does not name its link, the boxes'
built-in port is assumed and said so. Speeds are compared as the cluster / one-box ratio where the
same source measured one box too, so the single-box model's own error cancels.
"""

from __future__ import annotations

from vtt.plan import plan_many
from vtt.units import MIB

LHL = "https://github.com/lhl/strix-halo-testing/blob/1ea3eaa90a4d6bb589e8a652fb8b2d110e7a8b4b/rpc-test/README.md"
VISOR = "https://github.com/visorcraft/strix-halo-llm-perf/blob/0447d58f91665c5d912e46fc6e5d12614e3b986e/README.md"
RAMALAMA = "https://github.com/containers/ramalama/pull/1238"


def memory() -> None:
    # QwQ-32B Q8_0 (qwen2 arch = qwen2.5-32b's shapes) over one RPC box + a local ROCm GPU: the log
    # names layers 0-38 on RPC through its buffer sizes; vtt places the same layers and sums bytes.
    print("| run | device | llama.cpp log MiB | vtt MiB |\n|---|---|---:|---:|")
    a = plan_many([{"model": "qwen2.5-32b", "quant": "Q8_0", "context": 8192, "boxes": 2, "backend": "rocm",
                    "tensor_split": [59, 41]}])[0]
    for dev, logged in zip(a["devices"], (19271.03, 13142.15)):
        print(f"| [QwQ-32B Q8_0, RPC + ROCm0]({RAMALAMA}) | {dev['device']} layers {dev['layers']} | {logged} | {dev['weights_bytes'] / MIB:.2f} |")
    from vtt.plan_split import model_tensors
    from vtt.plan import resolve_model
    from vtt.specs.catalog import default_world

    w = default_world()
    rm = resolve_model(w, "qwen2.5-32b", "Q8_0", None)
    embd = dict(model_tensors(rm, "qwen2.5-32b", w))["token_embd.weight"]
    print(f"| [QwQ-32B Q8_0]({RAMALAMA}) | CPU_Mapped (input layer) | 788.91 | {embd / MIB:.2f} |")


def speed() -> None:
    print("\n| run | boxes | link | measured pp512 / tg128 | ratio to 1 box (measured) | vtt pp / tg | ratio to 1 box (vtt) | vtt network ms/token |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    meas = {1: (404.67, 33.50), 2: (374.82, 28.87), 3: (363.54, 23.02), 4: (368.13, 21.61)}
    base = {"model": "gpt-oss-120b", "quant": "F16", "context": 640, "hardware": "strix-halo-128",
            "backend": "vulkan-amdvlk", "flash_attn": False}
    one = plan_many([base])[0]
    for n, (pp, tg) in meas.items():
        a = one if n == 1 else plan_many([{**base, "boxes": n, "link": "5gbe"}])[0]
        net = a.get("network", {}).get("tg_ms_per_token", 0.0)
        print(f"| [gpt-oss-120b F16, Vulkan AMDVLK]({LHL}) | {n} | 5gbe (assumed: the boxes' port) | {pp} / {tg} | "
              f"{pp / meas[1][0]:.3f} / {tg / meas[1][1]:.3f} | {a['pp_tps']:.0f} / {a['tg_tps']:.1f} | "
              f"{a['pp_tps'] / one['pp_tps']:.3f} / {a['tg_tps'] / one['tg_tps']:.3f} | {net:.2f} |")
    a = plan_many([{"model": "minimax-m2-reap-139b", "quant": "Q8_0", "context": 640, "cluster": "strix-halo-x2-usb4",
                    "tensor_split": [1.2, 0.8]}])[0]
    print(f"| [MiniMax-M2.5-REAP-139B Q8_0, ROCm, -ts 1.2/0.8]({VISOR}) | 2 | usb4-net (9.4 Gbit/s measured) | 332.36 / 15.35 | "
          f"(no one-box run: does not fit) | {a['pp_tps']:.0f} / {a['tg_tps']:.1f} | {a['pp_tps'] / a['pp_tps_one_box']:.3f} / "
          f"{a['tg_tps'] / a['tg_tps_one_box']:.3f} | {a['network']['tg_ms_per_token']:.2f} |")
    print("\nPer remote device and generated token, the measured runs cost (1/tg_n - 1/tg_1) / (n - 1):")
    for n in (2, 3, 4):
        print(f"- gpt-oss-120b, {n} boxes: {(1e3 / meas[n][1] - 1e3 / meas[1][1]) / (n - 1):.2f} ms")


if __name__ == "__main__":
    memory()
    speed()
