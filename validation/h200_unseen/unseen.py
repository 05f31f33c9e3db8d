"""Architectures the H200 calibration never measured, predicted before they run (2026-12-01).

The shipped `h200-141--vulkan-nvidia` calibration was fitted on Llama 3.1 8B, Qwen3-30B-A3B,
gpt-oss-20b and GLM-4.7-Flash rows only (validation/h200). Here, with nothing refitted, it answers
for three models of kinds and shapes none of those rows have, written with random weights at their
real widths (vtt.gguf.write):

- Gemma 3 12B (48 layers, Q8_0): sliding-window layers 5:1 with 256-wide heads, GQA 2;
- Llama 2 7B (32 layers, Q8_0): MHA (GQA 1: every query head has its own KV head);
- GLM-4.5-Air (16 of 47 layers, Q4_0): MoE with 128 routed experts, a shared expert and a
  sigmoid router, 96 query heads on 8 KV heads.

llama-bench pp512 and tg128 at depths 0, 4096 and 16384, flash attention on, 3 repetitions.

    python validation/h200_unseen/unseen.py predict     # here, BEFORE the run: predictions.jsonl
    LLAMA_BIN_DIR=... OUT=... bash validation/h200_unseen/run.sh   # on the GPU machine
    python validation/h200_unseen/unseen.py analyze     # results/bench.jsonl against predictions.jsonl
    UNSEEN_SET=hybrid ...                               # the second run: predictions_hybrid, results_hybrid
    UNSEEN_SET=dsv4 ...                                 # the third: DeepSeek-V4-Flash, depths to 64K
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gpu"))
from matrix import file_name, header_files, write  # noqa: E402

MODELS = [("gemma-3-12b", 48, "q8_0"), ("llama-2-7b", 32, "q8_0"), ("glm-4.5-air", 16, "q4_0")]
# The second run (same day, after vtt's writer learned the gated-DeltaNet tensors): the hybrids Strix Halo
# users run most, which no H200 row has. Qwen3.6-35B-A3B at 20 of its 40 layers (5 full-attention), the
# dense Qwen3.6-27B at 24 of its 64 layers (6 full-attention) plus its MTP layer, as the file has it.
HYBRID = [("qwen3.6-35b-a3b", 20, "q8_0"), ("qwen3.6-27b", 25, "q8_0")]
# The third run: DeepSeek-V4-Flash (compressed attention, hyper-connections, 256 experts, 64 query heads
# on one 512-wide KV head) at 8 of its 43 layers: two window-only layers, then CSA / HCA alternating.
# Depths out to 64K, where the compressed caches are what the attention reads.
DSV4 = [("deepseek-v4-flash", 8, "q4_0")]
DEPTHS = [0, 4096, 16384]
if os.environ.get("UNSEEN_SET") == "hybrid":
    MODELS = HYBRID
if os.environ.get("UNSEEN_SET") == "dsv4":
    MODELS, DEPTHS = DSV4, [0, 16384, 65536]
N_PROMPT, N_GEN = 512, 128
HARDWARE, BACKEND = "h200-141", "vulkan-nvidia"
UNSTEADY = 0.10  # llama-bench stddev / mean above which a row is reported but not scored


SUFFIX = f"_{os.environ['UNSEEN_SET']}" if os.environ.get("UNSEEN_SET") in ("hybrid", "dsv4") else ""


def predict(out: Path = HERE / f"predictions{SUFFIX}.jsonl") -> None:
    from vtt.plan import plan_many

    qs, keys = [], []
    for path in header_files(MODELS, "vtt-unseen-"):
        for d in DEPTHS:
            # llama-bench's context for a test is n_prompt + n_gen + n_depth
            qs.append({"model": str(path), "context": N_PROMPT + N_GEN + d, "depth": d, "n_prompt": N_PROMPT,
                       "n_gen": N_GEN, "flash_attn": True, "hardware": HARDWARE, "backend": BACKEND})
            keys.append((path.name, d))
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [json.dumps({"predicted_at": stamp, "model_file": k[0], "n_depth": k[1], "pp_tps": a["pp_tps"],
                         "pp_tps_interval": a["pp_tps_interval"], "tg_tps": a["tg_tps"],
                         "tg_tps_interval": a["tg_tps_interval"], "extrapolated": a.get("extrapolated"),
                         "warnings": a["warnings"], "calibration": a["calibration"]})
             for k, a in zip(keys, plan_many(qs))]
    out.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} predictions -> {out}")


def analyze(results: Path = HERE / f"results{SUFFIX}") -> dict:
    pred = {(p["model_file"], p["n_depth"]): p for p in map(json.loads, open(HERE / f"predictions{SUFFIX}.jsonl"))}
    rows = []
    for r in map(json.loads, open(results / "bench.jsonl")):
        name, d = Path(r["model_filename"]).name, r["n_depth"]
        test = "tg" if r["n_gen"] else "pp"
        p = pred.get((name, d))
        if not p:
            continue
        v, (lo, hi) = p[f"{test}_tps"], p[f"{test}_tps_interval"]
        spread = r["stddev_ts"] / r["avg_ts"] if r["avg_ts"] else None
        rows.append({"model": name, "test": test, "depth": d, "measured": r["avg_ts"], "spread": spread, "vtt": v,
                     "err": v / r["avg_ts"] - 1, "inside": lo <= r["avg_ts"] <= hi})
    out = {"rows": rows}
    for test in ("pp", "tg"):
        # scored like validation/h200: steady rows only (repetitions within 10 % of their mean)
        sel = [r for r in rows if r["test"] == test and (r["spread"] or 0) <= UNSTEADY]
        if sel:
            out[test] = {"median_abs_err": statistics.median(abs(r["err"]) for r in sel), "n": len(sel),
                         "inside": sum(r["inside"] for r in sel)}
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["predict"]:
        predict()
    elif sys.argv[1:] == ["analyze"]:
        s = analyze()
        print("| model | test | depth | measured t/s (spread) | vtt | error | inside 90 % interval |")
        print("|---|---|---:|---:|---:|---:|---|")
        for r in s["rows"]:
            print(f"| {r['model']} | {r['test']} | {r['depth']} | {r['measured']:.1f} ({100 * (r['spread'] or 0):.1f} %) | "
                  f"{r['vtt']:.1f} | {100 * r['err']:+.1f} % | {'yes' if r['inside'] else 'no'} |")
        for t in ("pp", "tg"):
            if t in s:
                print(f"\n{t}: median |error| {100 * s[t]['median_abs_err']:.1f} % over {s[t]['n']} steady rows, "
                      f"{s[t]['inside']} inside the 90 % interval")
    elif sys.argv[1:2] == ["write"]:
        print(write(*MODELS[int(sys.argv[3])], Path(sys.argv[2])))
    elif sys.argv[1:] == ["depths"]:
        print(",".join(map(str, DEPTHS)))
    elif sys.argv[1:2] == ["name"]:
        print(file_name(*MODELS[int(sys.argv[2])]))
    else:
        sys.exit(__doc__)
