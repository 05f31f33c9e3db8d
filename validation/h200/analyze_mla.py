"""Score the quick set's MLA cell on the H200: writes validation/h200/MLA_REPORT.md.

    .venv/bin/python validation/h200/analyze_mla.py RESULTS_DIR   # what `MATRIX=5 run.sh` wrote under $OUT
    .venv/bin/python validation/h200/analyze_mla.py --simulate    # the cell's depths, tried on the first session's rows

(a) predictions_mla_cell.jsonl (committed before the cell was ever measured: the shipped calibration,
and the same with the operators' head-width law) against the MLA cell's rows in RESULTS/quick.jsonl;
(b) the new quick calibration (RESULTS/calibration_quick.yaml, fitted with the MLA cell, its
predictions RESULTS/predictions_quick.jsonl written before the matrix ran) against the matrix rows
it did not see: RESULTS/matrix.jsonl (GLM-4.7-Flash 16L Q8_0 in a trimmed run) and the first H200
session's rows (validation/h200/results/matrix.jsonl), beside the shipped calibration's answers for
the same rows with today's vtt.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import analyze  # noqa: E402
import common  # noqa: E402


def main(results: Path) -> None:
    import yaml

    from vtt.calibration import load_calibration_file

    preds = analyze.read_jsonl(HERE / "predictions_mla_cell.jsonl")
    quick = analyze.measured(results, "quick")
    cell = {analyze.key(r): r for r in quick if r["model_file"] == preds[0]["model_file"]}
    L = ["# The quick set's MLA cell on the H200", "",
         f"Regenerate: `.venv/bin/python validation/h200/analyze_mla.py {results}`.", "",
         "## (a) The cell, predicted before it was measured (`predictions_mla_cell.jsonl`)", "",
         "| answer | test | depth | predicted t/s (90 % interval) | measured t/s | error | steady |", "|---|---|---|---|---|---|---|"]
    for p in preds:
        m = cell.get(analyze.key(p))
        err = f"{(p['tps'] / m['tps'] - 1) * 100:+.1f} %" if m else "-"
        L.append(f"| {p['tag']} (fa_hw2 {p['fa_hw2']}) | {p['test']} | {p['n_depth']} | {p['tps']:.0f} "
                 f"({p['interval'][0]:.0f}-{p['interval'][1]:.0f}) | {m['tps']:.0f} | {err} | {m['steady']} |"
                 if m else f"| {p['tag']} | {p['test']} | {p['n_depth']} | {p['tps']:.0f} | not measured | - | - |")
    bs = analyze.bench_seconds(results)
    L += ["", f"Quick-calibration bench time (operators start -> fit): {bs:.0f} s (budget 600 s)." if bs else ""]
    cal_path = results / "calibration_quick.yaml"
    if cal_path.is_file():
        cal = load_calibration_file(cal_path)
        fitted = ", ".join(f"{k}={cal.params[k]:.3g}" for k in cal.param_names)
        mla = [c for c in cal.coverage or [] if c["kind"] == "MLA"]
        L += ["", "## (b) The quick calibration with the MLA cell", "",
              f"`{cal.id}`: {cal.n_points} rows ({len(cal.residual_stats['rows_skipped'])} unsteady, not fitted); "
              f"fitted: {fitted}.", "",
              f"Operator notes: {'; '.join(cal.residual_stats['operator_notes']) or '-'}. "
              f"Coverage: {len(cal.coverage or [])} cells, MLA: "
              + (", ".join(f"{c['test']} {c['depth_band']}" for c in mla) or "none (its rows were unsteady)") + "."]
        new = {analyze.key(p): p for p in analyze.read_jsonl(results / "predictions_quick.jsonl")}
        rows = analyze.measured(results, "matrix") + [
            r for r in analyze.measured(HERE / "results", "matrix")
            if analyze.key(r) not in {analyze.key(x) for x in analyze.measured(results, "matrix")}]
        rows = [r for r in rows if analyze.key(r) in new]
        tmp = Path(tempfile.mkdtemp(prefix="vtt-h200-mla-"))
        # the first session's quick rows (no MLA cell) fitted with today's vtt, as the shipped file is
        # fitted from this run's (validation/kind_physics/refit_h200.py): the same model form on both sides
        sys.path.insert(0, str(HERE.parent / "kind_physics"))
        from refit_h200 import refit

        first, _ = refit(HERE / "results")
        common.predict_matrix(first, tmp / "first.jsonl", tag="first", header_dir=tmp)
        old = {analyze.key(p): p for p in analyze.read_jsonl(tmp / "first.jsonl")}
        L += ["", "Absolute % error, median / p90, on the matrix rows the new quick fit did not see "
              f"({len(rows)} rows; this run's and the first session's):", "", "New quick calibration (with the MLA cell):", ""]
        L += analyze.table(analyze.score(rows, new))
        L += ["", "The first session's quick rows (no MLA cell) fitted with today's vtt, same rows:", ""]
        L += analyze.table(analyze.score(rows, old))
        L += day_to_day(results, rows, new)
        (HERE / "calibration_quick_mla.yaml").write_text(
            "# vtt calibrate --quick on the H200 with the MLA cell (validation/h200/run.sh, MATRIX=5)\n"
            + yaml.safe_dump(cal.to_dict(), sort_keys=False, width=120))
    out = HERE / "MLA_REPORT.md"
    out.write_text("\n".join(L) + "\n")
    print(out.read_text())


def day_to_day(results: Path, rows: list[dict], new: dict) -> list[str]:
    """The same cells measured in both sessions (steady in both): how far the machine itself moved,
    which the first session's rows charge to the new quick fit."""
    import statistics

    first = {analyze.key(r): r for r in analyze.measured(HERE / "results", "quick") + analyze.measured(HERE / "results", "matrix")}
    pairs = [(r, first[analyze.key(r)]) for r in analyze.measured(results, "quick") + analyze.measured(results, "matrix")
             if analyze.key(r) in first and r["steady"] and first[analyze.key(r)]["steady"]]
    L = ["", "## (c) The machine between sessions", "",
         "Cells measured in both H200 sessions and steady in both (this run / the first session - 1):", ""]
    for test in ("pp", "tg"):
        d = [a["tps"] / b["tps"] - 1 for a, b in pairs if a["test"] == test]
        if d:
            L.append(f"- {test}: median {statistics.median(d) * 100:+.1f} %, range {min(d) * 100:+.1f} to "
                     f"{max(d) * 100:+.1f} % (n={len(d)})")
    own = [abs(new[analyze.key(r)]["tps"] / r["tps"] - 1) for r in analyze.measured(results, "matrix")
           if r["steady"] and r["test"] == "tg" and analyze.key(r) in new]
    if own:
        L.append(f"- tg on this run's own matrix rows (same machine and day as the quick rows): median "
                 f"{statistics.median(own) * 100:.1f} % (n={len(own)}); the first session's rows add the drift above.")
    return L


def simulate() -> None:
    """Why the MLA cell runs at depth only: the first session's GLM-4.7-Flash 16L Q8_0 rows (flash
    attention) stand in for the cell, at depths 0 + 16384, 16384 or 4096, added to the committed quick
    rows; each fit scored on the MoE and MLA prefill rows of the matrix (signed error, predicted /
    measured - 1)."""
    import numpy as np

    import shipped_coverage as sc
    from vtt.calibrate.dataset import build_dataset
    from vtt.calibrate.fit import predict_log
    from vtt.calibrate.quick import fit_quick
    from vtt.calibrate.rows import store_rows
    from vtt.calibration import load_calibration_file
    from vtt.harness.ingest import ingest_files
    from vtt.specs.catalog import default_world
    from vtt.store import open_store, results

    w = default_world()
    tmp = Path(tempfile.mkdtemp(prefix="vtt-h200-sim-"))
    q = sc.quick_rows(tmp)
    ingest_files([sc.RESULTS / "matrix.jsonl"], db=tmp / "m.duckdb", label="m", hardware=common.HARDWARE, backend=common.BACKEND)
    with open_store(tmp / "m.duckdb", read_only=True) as st:
        files = {p.name: p for p in tmp.glob("*.gguf")}
        m = [common.prepare_row(r, files) for r in store_rows(results(st, label="m"))]
    prior = load_calibration_file(HERE / "prior_from_h100.yaml")
    ds = build_dataset(m, w, w.get_hardware(common.HARDWARE), backend=w.get_backend(common.BACKEND))
    for depths in ((), (0, 16384), (16384,), (4096,)):
        cell = [r for r in m if r["model_file"].startswith("glm") and int(r["flash_attn"]) == 1 and int(r["n_depth"]) in depths]
        cal = fit_quick(q + cell, w, common.HARDWARE, common.BACKEND, prior, op_rows=sc.op_rows(), cal_id="sim")
        e = np.exp(predict_log(ds, cal.all_params()) - np.log(ds.measured)) - 1
        errs = " ".join(f"{r['model_file'].split('-')[0]}-d{r['n_depth'] // 1024}K {x:+.2f}" for r, x in zip(ds.rows, e)
                        if r["test"] == "pp" and int(r["flash_attn"]) == 1 and not r["model_file"].startswith("llama"))
        print(f"MLA cell at depths {depths or 'none'}: moe_pp {cal.all_params()['moe_pp']:.3f}, "
              f"fa_hw2 {cal.all_params()['fa_hw2']:.3f}; pp {errs}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--simulate"]:
        simulate()
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results-mla")
