"""The coverage cells of the shipped H200 quick calibration (specs/calibrations/h200-141/vulkan-nvidia.yaml),
from the rows its fit used: results-mla/quick.jsonl (and results-mla/ops.jsonl), read as device.py's `fit` read
them on the H200. Only the `coverage` key is written; the parameters are what
validation/kind_physics/refit_h200.py fits from the same rows with today's speed model (the device's own
fit, in the form of that day, is results-mla/calibration_quick.yaml; --check prints a refit's differences).

    .venv/bin/python validation/h200/shipped_coverage.py           # rewrite the shipped file's coverage
    .venv/bin/python validation/h200/shipped_coverage.py --check   # print cells and the refit's differences
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402
from common import matrix  # noqa: E402

ROOT = HERE.parent.parent
SHIPPED = ROOT / "specs" / "calibrations" / "h200-141" / "vulkan-nvidia.yaml"
RESULTS = HERE / "results-mla"  # the quick run with the MLA cell (the first session's: results/)


def quick_rows(tmp: Path) -> list[dict]:
    """The quick llama-bench rows as device.py cmd_fit stored and prepared them."""
    from vtt.calibrate.rows import store_rows
    from vtt.harness.ingest import ingest_files
    from vtt.store import open_store, results

    db = tmp / "h200.duckdb"
    ingest_files([RESULTS / "quick.jsonl"], db=db, label="h200-quick", hardware=common.HARDWARE, backend=common.BACKEND)
    with open_store(db, read_only=True) as s:
        rows = store_rows(results(s, label="h200-quick"))
    from vtt.calibrate.quick import QUICK_MODELS

    models = list(matrix.MODELS) + [m for m in QUICK_MODELS if m not in matrix.MODELS]  # device.py models()
    files = {matrix.file_name(*m): matrix.write(*m, tmp, header_only=True) for m in models}
    return [common.prepare_row(r, files) for r in rows]


def op_rows() -> list[dict]:
    rows = [json.loads(x) for x in (RESULTS / "ops.jsonl").read_text().splitlines() if x.strip()]
    return [{**r, "hardware": common.HARDWARE, "backend": common.BACKEND} for r in rows]


def main(check: bool) -> None:
    from vtt.calibration import load_calibration_file, write_calibration_yaml
    from vtt.calibrate.dataset import build_dataset
    from vtt.calibrate.quick import fit_quick, quick_coverage
    from vtt.specs.catalog import default_world

    world = default_world()
    tmp = Path(tempfile.mkdtemp(prefix="vtt-h200-cov-"))
    shipped = load_calibration_file(SHIPPED)
    rows = quick_rows(tmp)
    be = world.get_backend(common.BACKEND)
    ds = build_dataset(rows, world, world.get_hardware(common.HARDWARE), backend=be)
    # the same rows the shipped fit used, or the cells would describe another fit
    assert len(ds.rows) == shipped.n_points, (len(ds.rows), shipped.n_points)
    assert sorted({r["model_id"] for r in ds.rows}) == shipped.residual_stats["models"]
    # the shipped fit took no parameter from the operators' attention rows (its notes: ce_k only)
    law_from_ops = any(n.startswith("fa_hw2") for n in shipped.residual_stats.get("operator_notes") or [])
    cells = quick_coverage(ds, op_rows() if law_from_ops else None, world, be)
    if check:
        for c in cells or []:
            print(c)
        prior = load_calibration_file(HERE / "prior_from_h100.yaml")
        refit = fit_quick(rows, world, common.HARDWARE, common.BACKEND, prior, op_rows=op_rows(), cal_id=shipped.id)
        diff = {k: (shipped.params.get(k), round(v, 6)) for k, v in refit.params.items()
                if shipped.params.get(k) is None or abs(v / shipped.params[k] - 1) > 1e-9}
        print("refit differs from the shipped parameters:", diff)
        return
    head = "".join(x for x in SHIPPED.read_text().splitlines(keepends=True) if x.startswith("#"))
    shipped.coverage = cells
    write_calibration_yaml(shipped, SHIPPED, head)
    print(f"{len(cells or [])} coverage cells -> {SHIPPED.relative_to(ROOT)}")


if __name__ == "__main__":
    main("--check" in sys.argv[1:])
