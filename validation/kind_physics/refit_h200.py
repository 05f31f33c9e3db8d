"""Refit the shipped H200 quick calibration with today's speed model, from the same rows it was
fitted on (validation/h200/results/quick.jsonl + ops.jsonl) around the H100 prior refitted the same
way (validation/gpu rows carried to the H200's spec sheet), and score it on the 58 matrix rows it was
not fitted on. A calibration's parameters belong to the model form that fitted them: when vtt.cost
changes a term (issue 9, kind-physics: the lm_head charged per prompt ubatch, not per token), the
shipped H200 file must be refitted or its ce values keep absorbing the old term.

    .venv/bin/python validation/kind_physics/refit_h200.py           # print the refit's matrix score
    .venv/bin/python validation/kind_physics/refit_h200.py --write   # and replace the shipped file
    .venv/bin/python validation/kind_physics/refit_h200.py --device-prior   # around the committed prior_from_h100.yaml

Measured (pp / tg median % on the matrix rows): the shipped file under the model it was fitted with
4.0 / 6.2; under today's model without a refit 16.2 / 6.2 (its ce values carry the lm_head per
token); refitted around the device's prior 14.1 (the prior's ce values carry it too; the same refit
with the old form: 4.0); refitted around the H100 rows refitted today 7.8 / 6.1 (the old form: 7.7:
the step from 4.0 is the H100 prior refitted with today's vtt, not this change).
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


def main(write: bool) -> None:
    from vtt.calibration import load_calibration_file, write_calibration_yaml
    from vtt.calibrate.quick import fit_quick
    from vtt.specs.catalog import default_world

    world = default_world()
    tmp = Path(tempfile.mkdtemp(prefix="vtt-h200-refit-"))
    shipped = load_calibration_file(SHIPPED)
    if "--device-prior" in sys.argv:  # the prior the device fit used (fitted with the vtt of that day)
        prior = load_calibration_file(H200 / "prior_from_h100.yaml")
    else:  # the H100 rows refitted with today's model, carried to the H200's spec sheet
        prior = common.transfer(common.h100_calibration(world, tmp), common.HARDWARE,
                                "h200-141--vulkan-nvidia--from-h100-specsheet")
    # as the shipped fit read them: its operator notes name only ce_k (no head-width law from the
    # FLASH_ATTN_EXT rows, which today's fill_from_ops would also take: validation/h200/shipped_coverage.py)
    ops = [r for r in op_rows() if r["op"] != "FLASH_ATTN_EXT"]
    cal = fit_quick(quick_rows(tmp), world, common.HARDWARE, common.BACKEND, prior, op_rows=ops, cal_id=shipped.id)
    common.predict_matrix(cal, tmp / "pred.jsonl", tag="refit", header_dir=tmp)
    preds = {analyze.key(p): p for p in analyze.read_jsonl(tmp / "pred.jsonl")}
    meas = analyze.measured(H200 / "results", "matrix")
    sc = analyze.score(meas, preds)
    lines = [f"{k[0]} {k[1]:10s} median {statistics.median(v):5.1f} % (n={len(v)})" for k, v in sorted(sc["err"].items())]
    lines += [f"{t} coverage {100 * sum(v) / len(v):.0f} %" for t, v in sorted(sc["cover"].items())]
    print("\n".join(lines))
    print("params:", {k: round(v, 4) for k, v in cal.params.items() if k in (cal.param_names or [])})
    if write:
        tg = statistics.median(sc["err"][("tg", "all")])
        pp = statistics.median(sc["err"][("pp", "all")])
        head = ("# Quick calibration of the lent H200 (validation/h200/REPORT.md), refitted with today's speed model by\n"
                "# validation/kind_physics/refit_h200.py from the same quick rows (results/quick.jsonl, ops.jsonl) around\n"
                "# the H100 prior refitted the same way. Scored on the matrix rows it was not fitted on: "
                f"tg {tg:.1f} %, pp {pp:.1f} % median\n"
                "# (the committed predictions_quick.jsonl, made on the device before the matrix ran, are the old form's).\n")
        cal.coverage = shipped.coverage
        write_calibration_yaml(cal, SHIPPED, head)
        print(f"-> {SHIPPED}")


if __name__ == "__main__":
    main("--write" in sys.argv[1:])
