"""Predictions for the quick set's new MLA cell on the H200, written before it is ever measured:
GLM-4.7-Flash 8 layers Q4_0 (vtt.calibrate.quick.QUICK_MODELS[3]), flash attention, pp512 and tg128 at
depth 16384, as llama-bench runs it in validation/h200/run.sh.

    .venv/bin/python validation/h200/predict_mla_cell.py   # -> validation/h200/predictions_mla_cell.jsonl

Two answers per row:
- tag "shipped": the shipped H200 quick calibration (specs/calibrations/h200-141/vulkan-nvidia.yaml) as
  `vtt plan` answers today, with its extrapolated flag and warning (MLA and width 576 are outside it);
- tag "shipped+ops-law": the same parameters with the head-width law fa_hw2 that today's quick fit takes
  from that run's own operator rows (results/ops.jsonl: coopmat2 at 128 / 256 / 576), the answer of
  the quick set without its MLA cell.
Scored by validation/h200/analyze_mla.py against the new run's quick.jsonl. The shipped file it read has
since been replaced by the calibration fitted with the MLA cell (909f3a1); the committed predictions are
what this script printed at 1e0a877, before the run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402
from common import matrix  # noqa: E402

OUT = HERE / "predictions_mla_cell.jsonl"


def mla_cell() -> tuple[tuple[str, int, str], list[tuple[int, int]]]:
    """(model, [(fa, depth)]) of the quick runs of the MLA model."""
    from vtt.calibrate.quick import QUICK_MODELS, QUICK_RUNS

    mi = next(i for i, (m, _, _) in enumerate(QUICK_MODELS) if m == "glm-4.7-flash")
    return QUICK_MODELS[mi], [(fa, d) for i, fa, ds in QUICK_RUNS if i == mi for d in ds]


def main() -> None:
    from vtt.calibrate.ops_fit import fill_from_ops
    from vtt.calibration import Calibration, export_user_calibration, load_calibration_file

    tmp = Path(tempfile.mkdtemp(prefix="vtt-h200-mla-"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "xdg")  # the variant below is visible to this process only
    shipped = load_calibration_file(HERE.parent.parent / "specs" / "calibrations" / "h200-141" / "vulkan-nvidia.yaml")
    ops = [{**json.loads(x), "hardware": common.HARDWARE, "backend": common.BACKEND}
           for x in (HERE / "results" / "ops.jsonl").read_text().splitlines() if x.strip()]
    all_p = shipped.all_params()
    law, notes = fill_from_ops(all_p, [k for k in all_p if k != "fa_hw2"], ops)
    variant = Calibration.from_dict({**shipped.to_dict(), "id": shipped.id + "--ops-law",
                                     "params": {**shipped.params, "fa_hw2": law["fa_hw2"]}})
    export_user_calibration(variant)
    (model, n_layer, wtype), runs = mla_cell()
    path = matrix.write(model, n_layer, wtype, tmp, header_only=True)
    lines = []
    for tag, cal_id in (("shipped", shipped.id), ("shipped+ops-law", variant.id)):
        for fa, d in runs:
            for test, n_p, n_g in (("pp", matrix.N_PROMPT, 0), ("tg", 0, matrix.N_GEN)):
                line, a = common.predict_cell(path, fa, d, test, n_p, n_g, common.HARDWARE, common.BACKEND, cal_id, tag)
                lines.append({
                    **line,
                    "fa_hw2": round(float(law["fa_hw2"] if tag != "shipped" else shipped.all_params()["fa_hw2"]), 4),
                    "extrapolated": a.get("extrapolated"),
                    "warning": next((w for w in a.get("warnings", []) if w.startswith("extrapolated")), None),
                })
    OUT.write_text("".join(json.dumps(x) + "\n" for x in lines))
    print(f"{len(lines)} predictions -> {OUT.relative_to(HERE.parent.parent)} ({notes[0] if notes else 'no law from ops'})")
    for x in lines:
        print(f"  {x['tag']:16s} {x['test']} d{x['n_depth']}: {x['tps']:.1f} t/s {x['interval']}")


if __name__ == "__main__":
    main()
