"""Rows -> a calibration whose interval widths are honest for unseen model families.

`calibrate_rows` is what `vtt calibrate` and the shipped-defaults script both call: fit the
speed parameters on every row, then run leave-one-family-out cross-validation and store the
sigma that makes the 90 % interval cover 90 % of held-out rows.
"""

from __future__ import annotations

import numpy as np

from vtt.calibration import Calibration
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
    cal = fit_calibration(ds, hardware=hardware, backend=backend, base=be.defaults, cal_id=cal_id, notes=notes,
                          prior_scale=be.prior_scale)
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


def load_rows(*, db: str | None = None, csv: str | None = None, label: str | None = None) -> list[dict]:
    """Measured rows from the DuckDB store (default) or from a CSV in the public schema."""
    from vtt.calibrate.rows import csv_rows, store_rows

    if csv:
        return csv_rows(csv)
    from vtt.store import records
    from vtt.store.db import open_store

    with open_store(db, read_only=True) as st:
        return store_rows(records.results(st, label=label))


def run_calibrate(world: World, hardware: str, backend: str, *, db: str | None = None, csv: str | None = None,
                  label: str | None = None, since: int | None = None, save: bool = True) -> dict:
    """`vtt calibrate`: rows -> fit + leave-family-out sigma -> store + user YAML. Returns a summary."""
    from datetime import datetime, timezone

    from vtt.calibration import export_user_calibration
    from vtt.calibrate.rows import select_rows

    rows = select_rows(load_rows(db=db, csv=csv, label=label), backend, since=since)
    if not rows:
        raise VttError(f"no measurements for backend '{backend}'" + (f" from build b{since}" if since else ""),
                       code="no_data", hint="record some: vtt bench run ..., or vtt ingest FILE; see --csv")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    cal_id = f"{hardware}--{backend}--{stamp}" + (f"--{label}" if label else "")
    cal, _ = calibrate_rows(rows, world, hardware, backend, cal_id=cal_id,
                            notes=f"vtt calibrate from {'CSV ' + csv if csv else 'the store'}"
                                  + (f", label {label}" if label else "") + (f", since b{since}" if since else ""))
    out = {"calibration": cal.to_dict(), "saved_to_store": None, "yaml": None}
    if save:
        if not csv or db:
            from vtt.store import records
            from vtt.store.db import open_store

            with open_store(db) as st:
                out["saved_to_store"] = records.save_calibration(
                    st, hardware, backend, cal.params,
                    covariance={"param_names": cal.param_names, "matrix": cal.covariance},
                    residual_stats={**(cal.residual_stats or {}), "sigma_log": cal.sigma_log},
                    data_range={"calibration_id": cal.id, "builds": cal.builds, "n_points": cal.n_points,
                                "label": label, "since": since})
        out["yaml"] = str(export_user_calibration(cal))
    return out
