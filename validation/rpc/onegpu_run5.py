"""GPU run 5: both rpc-servers on one H200 (run_gpu.sh SAME_GPU=1, cluster h200-vulkan-x2-onegpu),
against the predictions committed before it ran (predictions-run5.jsonl, no clock law: the shared GPU
is busy whenever either device computes) and against run 3's same tests with one GPU per rpc-server.
The ratio run 5 / run 3 of tokens per second is what two half-idle GPUs' clocks cost, measured
directly, which run 3 alone could only infer through the sampled clocks.

    python validation/rpc/onegpu_run5.py          # markdown table + summary (REPORT.md)
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import chain  # noqa: E402  (clock windows of a run's tg tests)


def _key(r: dict) -> tuple:
    return (Path(r["model_filename"]).name, r["tensor_split"], "pp" if r["n_prompt"] else "tg", r["n_depth"])


def main() -> dict:
    ana = json.loads((HERE / "results-h200-run5" / "analysis.json").read_text())
    two_gpu = {_key(r): r["avg_ts"] for r in map(json.loads, open(HERE / "results-h200-run3" / "rpc.jsonl"))}
    local = {(k[0], k[2], k[3]): r["avg_ts"] for r in map(json.loads, open(HERE / "results-h200-run5" / "local.jsonl"))
             for k in [_key(r)]}
    pred = {(x["model_file"], x["tensor_split"][0], x["test"], x["n_depth"]): x
            for x in map(json.loads, open(HERE / "predictions-run5.jsonl"))}
    windows, clock_max, _ = chain.clock_windows(results=HERE / "results-h200-run5")
    rows = []
    for r in ana["speed_as_predicted"]["rows"]:
        ts = "/".join(f"{x:.2f}" for x in r["split"])
        two = two_gpu.get((r["model"], ts, r["test"], r["depth"]))
        clk = [w["factor"] for w in windows if w["model"] == r["model"] and w["config"] == "x2"
               and w["split"] == r["split"] and w["depth"] == r["depth"] and w["gpu"] == 0]
        # what the split adds to one box, per token (tg) or per prompt (pp): measured against this run's
        # own local test, and vtt's network terms
        n = 512 if r["test"] == "pp" else 1
        loc = local[(r["model"], r["test"], r["depth"])]
        p = pred[(r["model"], int(r["split"][0]), r["test"], r["depth"])]
        vtt_ms = (p["network"]["pp_s"] * 1e3 if r["test"] == "pp" else p["network"]["tg_ms_per_token"])
        rows.append({**{k: r[k] for k in ("model", "split", "test", "depth", "predicted", "measured", "err")},
                     "link_ms_measured": 1e3 * (n / r["measured"] - n / loc), "link_ms_vtt": vtt_ms,
                     "local_measured_tps": loc, "local_vtt_tps": p["pp_tps_local" if r["test"] == "pp" else "tg_tps_local"],
                     "two_gpu_tps": two, "clock_cost": r["measured"] / two if two else None,
                     "clock_factor": clk[0] if clk else None})
    out = {"memory": ana["memory"], "rows": rows,
           "tg_median_abs_err": statistics.median(abs(x["err"]) for x in rows if x["test"] == "tg"),
           "pp_median_abs_err": statistics.median(abs(x["err"]) for x in rows if x["test"] == "pp"),
           "tg_max_abs_err": max(abs(x["err"]) for x in rows if x["test"] == "tg"),
           "pp_max_abs_err": max(abs(x["err"]) for x in rows if x["test"] == "pp")}
    return out


if __name__ == "__main__":
    s = main()
    print("| model | split | test | depth | vtt t/s (before the run) | measured, one GPU | error | link ms measured / vtt | one box measured / vtt t/s | run 3, one GPU each | clock cost | SM clock / max (run 5) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in s["rows"]:
        sp = "/".join(str(int(x)) for x in r["split"])
        print(f"| {r['model']} | {sp} | {r['test']} | {r['depth']} | {r['predicted']:.1f} | {r['measured']:.1f} | "
              f"{100 * r['err']:+.1f} % | {r['link_ms_measured']:.2f} / {r['link_ms_vtt']:.2f} | "
              f"{r['local_measured_tps']:.0f} / {r['local_vtt_tps']:.0f} | {r['two_gpu_tps']:.1f} | {r['clock_cost']:.2f}x | "
              + (f"{r['clock_factor']:.2f}" if r["clock_factor"] is not None else "-") + " |")
    print("\nmemory: " + ", ".join(f"{k} {v}" for k, v in s["memory"].items() if k != "rows"))
    print(f"tg median {100 * s['tg_median_abs_err']:.1f} % (max {100 * s['tg_max_abs_err']:.1f}), "
          f"pp median {100 * s['pp_median_abs_err']:.1f} % (max {100 * s['pp_max_abs_err']:.1f})")
