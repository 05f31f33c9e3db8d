"""One layer's compute-buffer stage at real widths: MoE and MLA models written with their real
n_embd, expert widths, experts used and attention shapes, but 2 MoE layers (plus the dense lead
layers), 16 experts and a 512-token vocabulary (so the logits stage stays small), loaded by the
pinned llama.cpp through one CPU rpc-server on 127.0.0.1. llama.cpp's allocator reports the device's
compute buffer (`sched_reserve` in the -v log); vtt's per-device answer (memory.layer_live_floats)
is compared with it. The rule comes from the graph code; these rows only test it.

    python validation/rpc/compute_layer_stage.py [--out validation/rpc/results-layer-stage.json]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

# catalog ids whose architecture vtt's GGUF writer can produce (vtt.gguf.write)
MODELS = ["qwen3-30b-a3b-instruct-2507", "qwen3-235b-a22b-instruct-2507", "qwen3-coder-480b-a35b",
          "glm-4.5-air", "gpt-oss-20b", "glm-4.7-flash", "deepseek-v3"]
UBATCHES = [512, 128]


def main(out: Path | None = None) -> dict:
    from vtt.gguf.write import write_random_gguf
    from vtt.harness.locate import install_llama_bench
    from vtt.harness.rpc import RpcServers, device_buffers, find_rpc_server, run_llama_bench_rpc
    from vtt.plan import plan_many
    from vtt.specs.catalog import default_world
    from vtt.units import MIB

    bench = install_llama_bench("cpu")["llama_bench"]
    server = find_rpc_server(bench)
    world = default_world()
    tmp = Path(tempfile.mkdtemp(prefix="vtt-stage-"))
    rows = []
    with RpcServers(server, 1, threads=2) as rs:
        for mid in MODELS:
            a = world.models[mid]
            small = a.model_copy(update={"n_vocab": 512, "n_expert": min(a.n_expert, 16)})
            path = tmp / f"{mid}.gguf"
            write_random_gguf(small, path, weight_type="mxfp4" if a.arch == "gpt-oss" else "q8_0",
                              n_layer=2 + a.n_dense_lead)
            for ub in UBATCHES:
                res = run_llama_bench_rpc(bench, ["-m", str(path), "-p", str(ub), "-n", "0", "-r", "1", "-fa", "1",
                                                  "-ub", str(ub), "-b", str(ub)], rs.endpoints, None)
                if res.returncode != 0:
                    raise SystemExit(f"{mid}: {res.stderr_tail}")
                meas = device_buffers(res.log_tests[0], rs.endpoints)[0]["compute_buffer_bytes"]
                ans = plan_many([{"model": str(path), "cluster": "cpu-loopback-1", "context": ub, "depth": 0,
                                  "n_prompt": ub, "n_gen": 1, "flash_attn": True, "n_ubatch": ub}])[0]
                pred = ans["devices"][0]["compute_buffer_bytes"]
                rows.append({"model": mid, "n_embd": a.n_embd, "n_ff_exp": a.n_ff_exp, "n_expert_used": a.n_expert_used,
                             "mla": a.mla is not None, "n_ubatch": ub, "predicted_mib": round(pred / MIB, 2),
                             "measured_mib": round(meas / MIB, 2), "err": round((pred - meas) / meas, 4)})
                print(json.dumps(rows[-1]), flush=True)
            path.unlink()
    summary = {"devices": len(rows), "within_10pct": sum(abs(r["err"]) <= 0.10 for r in rows),
               "median_abs_err": round(statistics.median(abs(r["err"]) for r in rows), 4),
               "max_abs_err": max(abs(r["err"]) for r in rows), "rows": rows}
    if out:
        out.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


if __name__ == "__main__":
    out = Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else None
    s = main(out)
    print(json.dumps({k: v for k, v in s.items() if k != "rows"}, indent=1))
