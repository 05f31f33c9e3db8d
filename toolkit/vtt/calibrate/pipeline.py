"""Rows -> a calibration whose interval widths are honest for unseen model families.

`calibrate_rows` is what `vtt calibrate` and the shipped-defaults script both call: fit the
speed parameters on every row, then run leave-one-family-out cross-validation and store the
sigma that makes the 90 % interval cover 90 % of held-out rows.
"""

from __future__ import annotations

import numpy as np

from vtt.calibrate.calibration import Calibration
from vtt.calibrate.dataset import build_dataset
from vtt.calibrate.fit import fit_calibration, residuals
from vtt.calibrate.rows import build_range
from vtt.calibrate.validate import CrossValidation, abs_pct, cross_validate, summarize
from vtt.errors import VttError
from vtt.specs.catalog import World


def calibrate_rows(rows: list[dict], world: World, hardware: str, backend: str, *,
                   cal_id: str | None = None, notes: str | None = None,
                   cross_validation: bool = True) -> tuple[Calibration, CrossValidation | None]:
    if not rows:
        raise VttError(f"no measurements for {hardware}/{backend}", code="no_data",
                       hint="record some: vtt bench run ..., or vtt ingest FILE")
    hw = world.get_hardware(hardware)
    be = world.get_backend(backend)
    ds = build_dataset(rows, world, hw, cpu_backend=be.api == "cpu")
    cal = fit_calibration(ds, hardware=hardware, backend=backend, base=be.defaults, cal_id=cal_id, notes=notes)
    cal.builds = build_range(ds.rows) or cal.builds
    r = residuals(ds, cal)
    tg = ds.is_tg
    ape = abs_pct(np.exp(r), np.ones(len(r)))
    stats = {"in_sample": {"tg": summarize(ape[tg]), "pp": summarize(ape[~tg])},
             "models": sorted({x["model_id"] for x in ds.rows}),
             "families": sorted({x["family"] for x in ds.rows})}
    cv = None
    if cross_validation and len(stats["families"]) >= 3:
        cv = cross_validate(ds, hardware=hardware, backend=backend, base=be.defaults)
        ok = np.isfinite(cv.predicted)
        cv_ape = abs_pct(cv.predicted, ds.measured)
        stats["leave_family_out"] = {"tg": summarize(cv_ape[ok & tg]), "pp": summarize(cv_ape[ok & ~tg])}
        sig = cv.sigma(ok)
        stats["sigma_source"] = "leave-family-out residuals: 90 % interval covers 90 % of held-out rows"
        stats["in_sample_sigma"] = dict(cal.sigma_log)
        cal.sigma_log = {k: round(float(v), 4) for k, v in sig.items()}
    cal.residual_stats = stats
    return cal, cv
