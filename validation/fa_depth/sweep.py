"""Does llama.cpp's Vulkan flash-attention kernel lose rate as the KV cache grows? An operator sweep.

Why: on Strix Halo, stock llama.cpp on RADV prefills at depth slower than linearly in the context, and by
how much differs per model (validation/report_notes.md `## depth-knee`: Qwen3.6-27B from 8K on, 35B-A3B
from ~36K, ROCm never). vtt charges attention linearly in the context. Whether the slowdown is the FA
shader's own (then it shows on any GPU running that shader, and its shape can be measured) or the AMD
memory system's (then it does not) cannot be told from llama-bench rows. Here `test-backend-ops perf` times
FLASH_ATTN_EXT alone, at the attention geometries of those models, prompt widths 256, 512 and 1024 rows and
KV lengths 4K-64K, on the lent GPU with its default kernel (coopmat2) and with coopmat2 disabled, which
leaves the coopmat1 shader RADV runs (flash_attn_cm1.comp; ggml-vulkan.cpp get_fa_tuning_params).

    python validation/fa_depth/sweep.py cases FILE   # the --test-file of the sweep (run.sh, on the GPU)
    python validation/fa_depth/sweep.py predict      # predictions.jsonl, before the run
    python validation/fa_depth/sweep.py analyze      # REPORT table from results/*.sql

The prediction is vtt's: FA time linear in the KV length, so the rate (FLOP/s) is the same at every length.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (label, d_k, d_v, n_head, n_head_kv): the full-attention layers of the Strix Halo curves' models
GEOMETRIES = [
    ("qwen3.6-27b", 256, 256, 24, 4),
    ("qwen3.6-35b-a3b", 256, 256, 16, 2),
    ("gpt-oss", 64, 64, 64, 8),
    ("llama-2-7b", 128, 128, 32, 32),
]
N_Q = (256, 512, 1024)
N_KV = (4096, 8192, 16384, 32768, 49152, 65536)
MODES = ("coopmat2", "coopmat1")  # run.sh: default, then GGML_VK_DISABLE_COOPMAT2=1


def cases():
    from vtt.harness.ops import flash_attn

    return [(g, flash_attn(dk, dv, h, hkv, nq, nkv)) for g, dk, dv, h, hkv in GEOMETRIES for nq in N_Q for nkv in N_KV]


def predict(out: Path = HERE / "predictions.jsonl") -> None:
    """vtt's attention rate for each case: the H200 calibration's attn_pp_eff x path_eff(width) x FP16 peak,
    the same at every KV length (plus its KV re-read term, which is also linear in the length)."""
    import numpy as np

    from vtt.cost import attention, throughput
    from vtt.calibration import load_calibration_file
    from vtt.specs.catalog import load_world

    world = load_world()
    hw = world.get_hardware("h200-141")
    cal = load_calibration_file(HERE.parents[1] / "toolkit/vtt/_specs/calibrations/h200-141/vulkan-nvidia.yaml")
    p = cal.all_params()
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = []
    for mode in MODES:
        ref = attention.PATHS.index("coopmat2")
        path = attention.PATHS.index(mode)
        for g, c in cases():
            d = c.dims
            eff = float(attention.path_eff(p, throughput.PARAM_DEFAULTS, [path], [ref], [max(d["d_k"], d["d_v"])])[0])
            rate = p["attn_pp_eff"] * eff * hw.fp16_tflops * 1e12
            # KV re-reads: n_q / rows passes over the K and V of every KV head, 1 / kv_tile_reuse from DRAM
            kv_bytes = 2.0 * d["n_kv"] * d["n_head_kv"] * (d["d_k"] + d["d_v"])
            t_kv = d["n_q"] / attention.Q_ROWS[mode] * kv_bytes / p["kv_tile_reuse"] / (p["bw_eff"] * hw.mem_bandwidth_gbs * 1e9)
            t = c.flops() / rate + t_kv
            lines.append(json.dumps({"predicted_at": stamp, "mode": mode, "geometry": g, "case": c.key,
                                     "n_q": d["n_q"], "n_kv": d["n_kv"], "time_us": t * 1e6,
                                     "tflops": c.flops() / t / 1e12, "calibration": cal.id}))
    out.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} predictions -> {out}")


def analyze(results: Path = HERE / "results") -> list[dict]:
    from vtt.harness.ops import sql_records

    pred = {(r["mode"], r["case"]): r for r in map(json.loads, (HERE / "predictions.jsonl").read_text().splitlines())}
    geometry = {c.key: g for g, c in cases()}
    rows = []
    for mode in MODES:
        f = results / f"{mode}.sql"
        if not f.is_file():
            continue
        # read as `vtt bench ops` reads its own output: each row matched to its generic op, FLOP/s from the shape
        for r in sql_records(f.read_text().splitlines(), [c for _, c in cases()]):
            if not r["time_us"] or r["case_key"] is None:
                continue
            rows.append({"mode": mode, "geometry": geometry[r["case_key"]], "n_q": r["shape"]["n_q"],
                         "n_kv": r["shape"]["n_kv"], "time_us": r["time_us"], "tflops": r["flops_s"] / 1e12,
                         "pred_tflops": pred.get((mode, r["case_key"]), {}).get("tflops")})
    return rows


def report(rows: list[dict]) -> str:
    L = ["| kernel | geometry (d, heads / KV heads) | rows | " + " | ".join(f"{k // 1024}K" for k in N_KV)
         + " | rate at 64K / at 4K | vtt |", "|---|---|---:|" + "---:|" * len(N_KV) + "---:|---:|"]
    geo = {g: (dk, h, hkv) for g, dk, _, h, hkv in GEOMETRIES}
    for mode in MODES:
        for g in geo:
            for nq in N_Q:
                r = {x["n_kv"]: x for x in rows if x["mode"] == mode and x["geometry"] == g and x["n_q"] == nq}
                if not r:
                    continue
                cells = [f"{r[k]['tflops']:.1f}" if k in r else "-" for k in N_KV]
                ratio = f"{r[N_KV[-1]]['tflops'] / r[N_KV[0]]['tflops']:.2f}" if N_KV[0] in r and N_KV[-1] in r else "-"
                pv = next((x["pred_tflops"] for x in r.values() if x["pred_tflops"]), None)
                dk, h, hkv = geo[g]
                vtt = f"{pv:.1f}" if pv else "-"
                L.append(f"| {mode} | {g} ({dk}, {h} / {hkv}) | {nq} | " + " | ".join(cells) + f" | {ratio} | {vtt} |")
    return "\n".join(L)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1] / "toolkit"))
    cmd = sys.argv[1:2]
    if cmd == ["cases"]:
        Path(sys.argv[2]).write_text("\n".join(c.file_line() for _, c in cases()) + "\n")
    elif cmd == ["predict"]:
        predict()
    elif cmd == ["analyze"]:
        print(report(analyze()))
    else:
        sys.exit(__doc__)
