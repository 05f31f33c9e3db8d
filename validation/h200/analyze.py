"""Score the H200 predictions against what the H200 measured; writes validation/h200/REPORT.md.

    .venv/bin/python validation/h200/analyze.py [RESULTS_DIR]   # default validation/h200/results
    .venv/bin/python validation/h200/analyze.py --dry-run       # the pipeline on the H100's rows (below)

(a) predictions_specsheet.jsonl (committed before any H200 run: the H100 calibration carried to
the H200's spec sheet) against every measured row (quick + matrix);
(b) RESULTS/predictions_quick.jsonl (written on the device by the quick calibration before the
matrix ran) against the matrix rows it was not fitted on.
Rows whose repetitions spread more than 10 % of their mean (a GPU still ramping its clocks) are
reported but not scored, as in validation/gpu.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402

KIND = {"llama-3.1-8b": "dense GQA", "qwen3-30b-a3b": "MoE", "gpt-oss-20b": "SWA MoE", "glm-4.7-flash": "MLA MoE"}
TARGETS = {"tg": 7.0, "pp": 12.0}


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.is_file() else []


def measured(results: Path, name: str) -> list[dict]:
    from vtt.calibrate.dataset import MAX_SAMPLE_SPREAD, sample_spread

    out = []
    for r in read_jsonl(results / f"{name}.jsonl"):
        test = "tg" if r.get("n_gen") else "pp"
        cv = sample_spread(r.get("samples_ns"))
        out.append({"model_file": Path(r["model_filename"]).name, "test": test, "flash_attn": int(r["flash_attn"]),
                    "n_depth": int(r["n_depth"]), "tps": float(r["avg_ts"]), "steady": cv is None or cv <= MAX_SAMPLE_SPREAD,
                    "set": name})
    return out


def key(r: dict) -> tuple:
    return (r["model_file"], r["test"], int(r["flash_attn"]), int(r["n_depth"]))


def kind_of(model_file: str) -> str:
    return next(v for k, v in KIND.items() if model_file.startswith(k + "-"))


def score(rows: list[dict], preds: dict) -> dict:
    """Absolute % errors grouped by (test, depth band), by architecture, and interval coverage."""
    g = defaultdict(list)
    cover = defaultdict(list)
    for r in rows:
        p = preds.get(key(r))
        if p is None or not r["steady"]:
            continue
        e = abs(p["tps"] / r["tps"] - 1) * 100
        band = "d0" if r["n_depth"] == 0 else "depth"
        for k in ((r["test"], "all"), (r["test"], band), (r["test"], kind_of(r["model_file"]))):
            g[k].append(e)
        lo, hi = p["interval"]
        cover[r["test"]].append(lo <= r["tps"] <= hi)
    return {"err": g, "cover": cover}


def med_p90(xs) -> str:
    if not xs:
        return "-"
    return f"{statistics.median(xs):.1f} / {np.percentile(xs, 90):.1f} (n={len(xs)})"


def table(sc: dict) -> list[str]:
    e = sc["err"]
    L = ["| rows | tg | pp |", "|---|---|---|"]
    for lab, k in (("**all**", "all"), ("depth 0", "d0"), ("depth 4K-32K", "depth"), *((v, v) for v in KIND.values())):
        L.append(f"| {lab} | {med_p90(e.get(('tg', k), []))} | {med_p90(e.get(('pp', k), []))} |")
    cov = {t: (f"{100 * sum(v) / len(v):.0f} %" if v else "-") for t, v in sc["cover"].items()}
    L += ["", f"Measured rows inside the 90 % interval: tg {cov.get('tg', '-')}, pp {cov.get('pp', '-')}."]
    return L


def bench_seconds(results: Path) -> float | None:
    """Quick-calibration bench time on the device: from the operators' start to the quick fit (timeline)."""
    t = (results / "timeline.txt").read_text() if (results / "timeline.txt").is_file() else ""
    a = re.search(r"\[(\d+)s\] operators start", t)
    b = re.search(r"\[(\d+)s\] quick fit", t)
    return float(int(b.group(1)) - int(a.group(1))) if a and b else None


def ops_summary(results: Path) -> list[str]:
    rows = read_jsonl(results / "ops.jsonl")
    if not rows:
        return ["No operator rows."]
    from vtt.calibrate.ops_fit import attention_efficiency_from_ops, decode_bandwidth_from_ops, matmul_efficiency_from_ops

    for r in rows:
        r.update(hardware=common.HARDWARE, backend=common.BACKEND)
    att = attention_efficiency_from_ops(rows)
    mm = matmul_efficiency_from_ops(rows)
    bw = decode_bandwidth_from_ops(rows)
    L = [f"{sum(1 for r in rows if r.get('supported'))} of {len(rows)} operator rows supported.", "",
         "| flash attention (path, head width) | share of FP16 peak |", "|---|---|"]
    L += [f"| {p}, {b} | {v:.3f} |" for (p, b), v in sorted(att.items())]
    L += ["", "| weight matmul family | share of FP16 peak (n=512) | share of datasheet bandwidth (n=1) |", "|---|---|---|"]
    L += [f"| {f} | {mm.get(f, float('nan')):.3f} | {bw.get(f, float('nan')):.3f} |" for f in sorted(set(mm) | set(bw))]
    return L


def dry_run() -> Path:
    """Stand-in results from the H100's run 1 (validation/gpu/results/vulkan.jsonl): its quick cells as
    quick.jsonl, the rest as matrix.jsonl, fitted by device.py exactly as on the H200. The prior (the
    H100 calibration on the H200's spec sheet) then misjudges the card as much as the H200's datasheet
    misjudges the H100: a test of whether the quick fit recovers, not an H200 figure."""
    import os
    import tempfile

    import device

    tmp = Path(tempfile.mkdtemp(prefix="vtt-h200-dry-"))
    q = device.quick_keys()
    quick, rest = [], []
    for line in (common.GPU / "results" / "vulkan.jsonl").read_text().splitlines():
        r = json.loads(line)
        k = (Path(r["model_filename"]).name, int(r["flash_attn"]), int(r["n_depth"]))
        (quick if k in q else rest).append(line + "\n")
    (tmp / "quick.jsonl").write_text("".join(quick))
    (tmp / "matrix.jsonl").write_text("".join(rest))
    device.DB = tmp / "dry.duckdb"
    os.environ["XDG_DATA_HOME"] = str(tmp / "xdg")
    device.cmd_fit(str(tmp))
    return tmp


def main() -> None:
    dry = "--dry-run" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--dry-run"]
    results = dry_run() if dry else Path(args[0]) if args else HERE / "results"
    spec = {key(p): p for p in read_jsonl(HERE / "predictions_specsheet.jsonl")}
    quick_preds = {key(p): p for p in read_jsonl(results / "predictions_quick.jsonl")}
    quick_rows, matrix_rows = measured(results, "quick"), measured(results, "matrix")
    L = ["# vtt on a card it has never measured: the H200", "",
         "Regenerate: `.venv/bin/python validation/h200/analyze.py` (reads `results/`, the files "
         "`validation/h200/run.sh` wrote under `$OUT`). Predictions: `validation/h200/predict_specsheet.py` "
         "(committed before any H200 run) and the quick calibration on the device (written before the matrix ran).", ""]
    if not (quick_rows or matrix_rows):
        L += ["**Not run yet.** The device run is `validation/h200/run.sh`; until it has run, this report holds the "
              "predictions only.", "",
              f"- `predictions_specsheet.jsonl`: {len(spec)} predictions, "
              f"calibration `{next(iter(spec.values()))['calibration'] if spec else '-'}`."]
        (HERE / "REPORT.md").write_text("\n".join(L) + "\n")
        print("\n".join(L))
        return
    fp = (results / "fingerprint.txt").read_text() if (results / "fingerprint.txt").is_file() else ""
    bw = re.search(r"([\d.]+) GB/s", fp)
    unsteady = sum(not r["steady"] for r in quick_rows + matrix_rows)
    secs = bench_seconds(results)
    L += ["## What ran", "",
          f"- {len(quick_rows)} quick llama-bench rows, {len(matrix_rows)} matrix rows ({unsteady} unsteady: "
          "spread > 10 %, not scored); device copy bandwidth "
          f"{bw.group(1) + ' GB/s' if bw else 'not recorded'} (datasheet 4,800 GB/s).",
          f"- Quick calibration bench time (operators start -> fit): {secs:.0f} s (target <= 600 s)." if secs is not None
          else "- Quick calibration bench time: not in the timeline.", "",
          "## (a) From the H100 calibration and the H200 spec sheet alone", "",
          "The H100's fitted efficiencies (bandwidth share, matmul and attention shares of peak, fixed costs) "
          "with the H200's datasheet bandwidth (4.8 TB/s) and FP16 peak (989 TFLOPS dense, "
          "https://www.nvidia.com/en-us/data-center/h200/). Absolute % error, median / p90, every steady row:", ""]
    L += table(score(quick_rows + matrix_rows, spec)) + [""]
    L += ["## (b) After the quick calibration, on the rest of the matrix", "",
          f"Fitted on the {len(quick_rows)} quick rows and the operator rows around the H100 prior; scored on the "
          f"{len(matrix_rows)} matrix rows it did not see. Targets: tg <= {TARGETS['tg']:.0f} %, pp <= "
          f"{TARGETS['pp']:.0f} % median.", ""]
    sq = score(matrix_rows, quick_preds)
    L += table(sq) + [""]
    for t in ("tg", "pp"):
        xs = sq["err"].get((t, "all"), [])
        if xs:
            m = statistics.median(xs)
            L.append(f"- {t}: median {m:.1f} % -> target {'met' if m <= TARGETS[t] else 'missed'}.")
    sa = score(matrix_rows, spec)
    L += ["", "The spec-sheet predictions on the same matrix rows, for comparison:", ""] + table(sa) + [""]
    L += ["## Operators (test-backend-ops perf on Vulkan0)", ""] + ops_summary(results) + [""]
    cal = results / "calibration_quick.yaml"
    if cal.is_file():
        import yaml

        c = yaml.safe_load(cal.read_text())
        L += ["## The quick calibration", "", f"`{c['id']}`: {c['n_points']} rows, prior `{c['residual_stats']['prior']}`; "
              "fitted: " + ", ".join(f"{k}={c['params'][k]:.3g}" for k in c["param_names"]) + ".", ""]
        if c["residual_stats"].get("operator_notes"):
            L += ["From operator ratios: " + "; ".join(c["residual_stats"]["operator_notes"]) + ".", ""]
    if dry:
        L[0] = "# Dry run: the H200 pipeline on the H100's rows (not an H200 figure)"
        L.insert(2, "`analyze.py --dry-run`: the H100's run-1 rows stand in for the H200's; the spec-sheet scores "
                    "below are of H200 predictions against H100 rows (so they show the prior's error, ~the H200/H100 "
                    "bandwidth ratio), and the quick scores show how far the quick fit recovers from that prior. The prior "
                    "was itself fitted on these H100 rows, so only what the spec sheets change (bandwidth) is tested "
                    "here, not efficiencies a new card would also change.\n")
        (HERE / "DRY_RUN.md").write_text("\n".join(L) + "\n")
    else:
        (HERE / "REPORT.md").write_text("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
