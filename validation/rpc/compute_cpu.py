"""Compute buffers over RPC on this machine's CPU: generated models of six architectures through one
and two CPU rpc-servers on 127.0.0.1 (the pinned llama.cpp's own scheduler and allocator), against
vtt's per-device answer. The GPU runs (compute_buffers.py) have four models; this adds MoE widths,
MLA and sliding-window layers the GPU never ran, in minutes and without a GPU.

    python validation/rpc/compute_cpu.py [--out validation/rpc/results-cpu-compute.json]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from gguf_models import write_tiny  # noqa: E402  (tiny real architectures, random weights)

# (label, kind, overrides): dense, three MoE shapes (experts used 2 / 8, experts narrower or as wide as
# n_embd), MLA and sliding-window attention
MODELS = [
    ("llama-dense", "llama", dict(n_layer=4, n_embd=512, n_ff=1536)),
    ("qwen3moe-used2", "qwen3moe", dict(n_layer=4, n_embd=512, n_expert=16, n_expert_used=2, n_ff_exp=256)),
    ("qwen3moe-used8", "qwen3moe", dict(n_layer=4, n_embd=512, n_expert=32, n_expert_used=8, n_ff_exp=192)),
    ("gpt-oss", "gpt-oss", dict(n_layer=4, n_embd=512, n_expert=8, n_expert_used=4, n_ff_exp=512)),
    ("deepseek2-mla", "deepseek2", dict(n_layer=4)),
    ("gemma3-swa", "gemma3", dict(n_layer=6)),
]
CONFIGS = [("rpc1", "cpu-loopback-1", 1, None), ("x2", "cpu-loopback-2", 2, [1, 1])]
TESTS = [("pp", ["-p", "256", "-n", "0"]), ("tg", ["-p", "0", "-n", "4"])]
DEPTHS = [0, 1024]


def main(out: Path | None = None) -> dict:
    from vtt.harness.locate import install_llama_bench
    from vtt.harness.rpc import RpcServers, device_buffers, find_rpc_server, run_llama_bench_rpc
    from vtt.plan import plan_many
    from vtt.units import MIB

    bench = install_llama_bench("cpu")["llama_bench"]
    server = find_rpc_server(bench)
    tmp = Path(tempfile.mkdtemp(prefix="vtt-cbcpu-"))
    rows = []
    for label, kind, over in MODELS:
        path = write_tiny(kind, tmp, **over)
        for cfg, cluster, n_srv, split in CONFIGS:
            with RpcServers(server, n_srv, threads=1) as rs:
                for test, args in TESTS:
                    res = run_llama_bench_rpc(bench, ["-m", str(path), *args, "-d", ",".join(map(str, DEPTHS)),
                                                      "-r", "1", "-fa", "1"], rs.endpoints, split)
                    if res.returncode != 0:
                        raise SystemExit(f"{label} {cfg} {test}: {res.stderr_tail}")
                    for rec, lt in zip(res.records, res.log_tests):
                        n_p, n_g, d = rec["n_prompt"], rec["n_gen"], rec["n_depth"]
                        q = {"model": str(path), "cluster": cluster, "context": n_p + n_g + d, "depth": d,
                             "n_prompt": max(n_p, 1), "n_gen": max(n_g, 1), "flash_attn": True,
                             **({"tensor_split": split} if split else {})}
                        ans = plan_many([q])[0]
                        if "error" in ans:
                            raise SystemExit(f"{label}: {ans['error']}")
                        for i, (dev, meas) in enumerate(zip(ans["devices"], device_buffers(lt, rs.endpoints))):
                            m = meas["compute_buffer_bytes"]
                            rows.append({"model": label, "config": cfg, "test": test, "depth": d, "device": i,
                                         "predicted_mib": round(dev["compute_buffer_bytes"] / MIB, 3),
                                         "measured_mib": round(m / MIB, 3),
                                         "err": round((dev["compute_buffer_bytes"] - m) / m, 4) if m else None})
    ok = [r for r in rows if r["err"] is not None]
    summary = {"devices": len(ok), "within_10pct": sum(abs(r["err"]) <= 0.10 for r in ok),
               "median_abs_err": round(statistics.median(abs(r["err"]) for r in ok), 4),
               "by_model": {m: round(statistics.median(abs(r["err"]) for r in ok if r["model"] == m), 4)
                            for m in dict.fromkeys(r["model"] for r in ok)},
               "rows": rows}
    if out:
        out.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


if __name__ == "__main__":
    out = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else None
    s = main(out)
    print(json.dumps({k: v for k, v in s.items() if k != "rows"}, indent=1))
    for r in s["rows"]:
        if r["err"] is None or abs(r["err"]) > 0.10:
            print("miss", r)
