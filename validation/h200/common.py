"""Shared by validation/h200/: the H100 calibration, H100 rows, and predicting the GPU matrix.

The matrix (models, depths, tests) is validation/gpu/matrix.py's, unchanged, so the H200 scores
are comparable with the H100 ones. A calibration fitted on one card predicts another by carrying
its efficiencies (bw_eff, ce_*, attention efficiencies, fixed costs) over to the new card's spec
sheet (`specs/hardware/h200-141.yaml`: mem_bandwidth_gbs, fp16_tflops): that is all vtt knows
about a card it has never measured.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
GPU = HERE.parent / "gpu"
sys.path.insert(0, str(GPU))
import matrix  # noqa: E402  (validation/gpu/matrix.py: the models and tests)

HARDWARE, BACKEND = "h200-141", "vulkan-nvidia"


def h100_rows(world, header_dir: Path) -> list[dict]:
    """The H100 Vulkan llama-bench rows of validation/gpu/results (runs 1 and 2), resolved through
    exact header-only copies of the files that ran, unsteady rows marked (not fitted)."""
    from vtt.calibrate.rows import store_rows
    from vtt.harness.ingest import ingest_files
    from vtt.store import open_store, results

    db = header_dir / "h100.duckdb"
    rows = []
    for lab in ("vulkan", "vulkan2"):
        ingest_files([GPU / "results" / f"{lab}.jsonl"], db=db, label=lab, hardware=matrix.HARDWARE, backend=BACKEND)
    with open_store(db, read_only=True) as s:
        for lab in ("vulkan", "vulkan2"):
            rows += store_rows(results(s, label=lab))
    files = {matrix.file_name(*m): matrix.write(*m, header_dir, header_only=True) for m in matrix.MODELS}
    for r in rows:
        prepare_row(r, files)
    return rows


def prepare_row(r: dict, files: dict[str, Path]) -> dict:
    from vtt.calibrate.dataset import MAX_SAMPLE_SPREAD, sample_spread

    r["model_file"] = Path(r["model"]).name
    r["model"] = str(files[r["model_file"]])
    r["mla_v_less"] = True  # the pinned llama.cpp (0c1e570) caches K only for MLA
    cv = sample_spread(r.get("samples_ns"))
    r["unstable"] = cv is not None and cv > MAX_SAMPLE_SPREAD
    return r


def h100_calibration(world, tmp: Path):
    """The H100 Vulkan calibration: every steady H100 row of validation/gpu (no CV: one family each)."""
    from vtt.calibrate.pipeline import calibrate_rows

    rows = h100_rows(world, tmp)
    cal, _ = calibrate_rows(rows, world, matrix.HARDWARE, BACKEND, cal_id="h100-sxm-80--vulkan-nvidia--gpu-all",
                            notes="validation/gpu results, all steady rows", cross_validation=False)
    return cal


def transfer(cal, hardware: str, cal_id: str):
    """The same efficiencies, filed under another card (its spec sheet supplies BW and FLOPs)."""
    from vtt.calibration import Calibration

    d = cal.to_dict()
    d.update(id=cal_id, hardware=hardware,
             notes=f"transferred from {cal.id} ({cal.hardware}): efficiencies carried to {hardware}'s spec sheet")
    return Calibration.from_dict(d)


def predict_cell(path: Path, fa, d: int, test: str, n_p: int, n_g: int, hardware: str, backend: str,
                 calibration: str, tag: str, world=None) -> tuple[dict, dict]:
    """One matrix cell as `vtt plan` answers it (llama-bench's -p/-n/-d): (the prediction line, the answer)."""
    from vtt.plan import plan_many

    q = {"model": str(path), "context": n_p + n_g + d, "depth": d, "n_prompt": max(n_p, 1), "n_gen": max(n_g, 1),
         "flash_attn": bool(fa), "mla_v_less": True, "hardware": hardware, "backend": backend, "calibration": calibration}
    (a,) = plan_many([q], world)
    if "error" in a:
        raise SystemExit(f"{path.name}: {a['error']}")
    return {"predicted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "tag": tag,
            "model_file": path.name, "test": test, "flash_attn": fa, "n_depth": d, "n_prompt": n_p, "n_gen": n_g,
            "context": q["context"], "hardware": hardware, "backend": backend, "tps": a[f"{test}_tps"],
            "interval": a[f"{test}_tps_interval"], "calibration": a["calibration"]}, a


def predict_matrix(cal, out: Path, *, tag: str, header_dir: Path | None = None, skip=None) -> int:
    """Predict every (model, fa, depth, test) cell of the GPU matrix on HARDWARE with `cal`; one
    JSON line per cell to `out`. `skip(model_file, fa, depth)` drops cells (the quick set)."""
    from vtt.calibration import export_user_calibration
    from vtt.specs.catalog import default_world

    world = default_world()
    header_dir = header_dir or Path(tempfile.mkdtemp(prefix="vtt-h200-"))
    os.environ.setdefault("XDG_DATA_HOME", str(header_dir / "xdg"))
    export_user_calibration(cal)
    lines = []
    for model, n_layer, wtype in matrix.MODELS:
        path = matrix.write(model, n_layer, wtype, header_dir, header_only=True)
        for fa, d, test, n_p, n_g in matrix.tests():
            if skip and skip(path.name, fa, d):
                continue
            lines.append(predict_cell(path, fa, d, test, n_p, n_g, cal.hardware, cal.backend, cal.id, tag, world)[0])
    out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return len(lines)
