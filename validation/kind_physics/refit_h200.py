"""Refit the shipped H200 quick calibration with today's speed model, from the same rows it was
fitted on (validation/h200/results-mla/quick.jsonl + ops.jsonl: the quick set with its MLA cell, as
shipped_coverage.RESULTS names them) around the H100 prior refitted the same way (validation/gpu rows
carried to the H200's spec sheet), and score it on the matrix rows it was not fitted on (both H200
sessions'). A calibration's parameters belong to the model form that fitted them: when vtt.cost
changes a term (issue 9, kind-physics: the lm_head charged per prompt ubatch, not per token), the
shipped H200 file must be refitted or its ce values keep absorbing the old term.

    .venv/bin/python validation/kind_physics/refit_h200.py           # print the refit's matrix score
    .venv/bin/python validation/kind_physics/refit_h200.py --write   # and replace the shipped file
    .venv/bin/python validation/kind_physics/refit_h200.py --device-prior   # around the committed prior_from_h100.yaml

Measured (pp / tg median % on the matrix rows): the shipped file under the model it was fitted with
4.0 / 6.2; under today's model without a refit 16.2 / 6.2 (its ce values carry the lm_head per
token); refitted around the device's prior 14.1 (the prior's ce values carry it too; the same refit
with the old form: 4.0); refitted around the H100 rows refitted today 7.8 / 6.1 (the old form: 7.7:
the step from 4.0 is the H100 prior refitted with today's vtt, not this change). From the run with
the MLA cell (results-mla, 9 steady quick rows), scored on both sessions' unseen matrix rows: pp 6.2 /
tg 7.8 (the device's old-form fit of the same rows: 6.1 / 7.6).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
H200 = HERE.parent / "h200"
sys.path.insert(0, str(H200))
import analyze  # noqa: E402
import common  # noqa: E402
from shipped_coverage import SHIPPED, op_rows, quick_rows  # noqa: E402


def refit(results: Path | None = None, device_prior: bool = False, extra_ops: list[dict] | None = None):
    """fit_quick with today's vtt on a session's quick rows (default: shipped_coverage.RESULTS, the run
    with the MLA cell; H200 / "results": the first session's, no MLA cell) and its operator rows (plus
    `extra_ops`: validation/fa_depth/transfer.py adds the depth sweep's)."""
    from vtt.calibration import load_calibration_file
    from vtt.calibrate.quick import fit_quick
    from vtt.specs.catalog import default_world

    import shipped_coverage as sc

    world = default_world()
    tmp = Path(tempfile.mkdtemp(prefix="vtt-h200-refit-"))
    if device_prior:  # the prior the device fit used (fitted with the vtt of that day)
        prior = load_calibration_file(H200 / "prior_from_h100.yaml")
    else:  # the H100 rows refitted with today's model, carried to the H200's spec sheet
        prior = common.transfer(common.h100_calibration(world, tmp), common.HARDWARE,
                                "h200-141--vulkan-nvidia--from-h100-specsheet")
    saved = sc.RESULTS
    sc.RESULTS = results or saved
    try:
        # as the device's fit read them (with the MLA cell the rows fit the head-width law themselves;
        # without it fill_from_ops takes it from the FLASH_ATTN_EXT rows: shipped_coverage.py)
        rows, ops = quick_rows(tmp), op_rows()
    finally:
        sc.RESULTS = saved
    return fit_quick(rows, world, common.HARDWARE, common.BACKEND, prior, op_rows=ops + (extra_ops or []),
                     cal_id="h200-141--vulkan-nvidia--quick"), tmp


def main(write: bool) -> None:
    from vtt.calibration import load_calibration_file, write_calibration_yaml

    shipped = load_calibration_file(SHIPPED)
    cal, tmp = refit(device_prior="--device-prior" in sys.argv)
    common.predict_matrix(cal, tmp / "pred.jsonl", tag="refit", header_dir=tmp)
    preds = {analyze.key(p): p for p in analyze.read_jsonl(tmp / "pred.jsonl")}
    quick = {analyze.key(r) for r in analyze.measured(H200 / "results-mla", "quick")}
    meas = [r for r in analyze.measured(H200 / "results-mla", "matrix") + analyze.measured(H200 / "results", "matrix")
            if analyze.key(r) not in quick]
    sc = analyze.score(meas, preds)
    lines = [f"{k[0]} {k[1]:10s} median {statistics.median(v):5.1f} % (n={len(v)})" for k, v in sorted(sc["err"].items())]
    lines += [f"{t} coverage {100 * sum(v) / len(v):.0f} %" for t, v in sorted(sc["cover"].items())]
    print("\n".join(lines))
    print("params:", {k: round(v, 4) for k, v in cal.params.items() if k in (cal.param_names or [])})
    if write:
        tg = statistics.median(sc["err"][("tg", "all")])
        pp = statistics.median(sc["err"][("pp", "all")])
        head = ("# Quick calibration of the lent H200 (validation/h200/REPORT.md), refitted with today's speed model by\n"
                "# validation/kind_physics/refit_h200.py from the same quick rows (results-mla/quick.jsonl, ops.jsonl) around\n"
                "# the H100 prior refitted the same way. Scored on the matrix rows it was not fitted on: "
                f"tg {tg:.1f} %, pp {pp:.1f} % median\n"
                "# (the committed predictions_quick.jsonl, made on the device before the matrix ran, are the old form's:\n"
                "# validation/h200/MLA_REPORT.md scores those).\n")
        # cal.coverage: the cells of the rows this fit used (fit_quick), as the device wrote them
        write_calibration_yaml(cal, SHIPPED, head)
        print(f"-> {SHIPPED}")


if __name__ == "__main__":
    main("--write" in sys.argv[1:])
