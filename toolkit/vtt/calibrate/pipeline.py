"""Rows -> a calibration whose interval widths are honest for unseen model families.

`calibrate_rows` is what `vtt calibrate` and the shipped-defaults script both call: fit the
speed parameters on every row, then run leave-one-family-out cross-validation and store the
sigma that makes the 90 % interval cover 90 % of held-out rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vtt.calibration import Calibration, describe_builds, split_by_era
from vtt.calibrate.dataset import build_dataset
from vtt.calibrate.fit import fit_calibration, residuals
from vtt.calibrate.validate import MIN_BAND_ROWS, CrossValidation, abs_pct, cross_validate, sigma_keys, summarize
from vtt.cost.depth_curve import attach, curves_from_ops
from vtt.errors import VttError
from vtt.specs.catalog import World


def calibrate_rows(rows: list[dict], world: World, hardware: str, backend: str, *,
                   cal_id: str | None = None, notes: str | None = None,
                   cross_validation: bool = True, op_rows: list[dict] | None = None,
                   era_of: Calibration | None = None) -> tuple[Calibration, CrossValidation | None]:
    """`op_rows` (`vtt bench ops` results of this hardware x backend) fill what the llama-bench rows
    cannot identify (vtt.calibrate.ops_fit.fill_from_ops). `era_of`: these rows are one kernel era
    of the rows that calibration was fitted on: only the attention terms (ERA_PARAMS) are fitted here,
    the rest is its."""
    if not rows:
        raise VttError(f"no measurements for {hardware}/{backend}", code="no_data",
                       hint="record some: vtt bench run ..., or vtt ingest FILE")
    hw = world.get_hardware(hardware)
    be = world.get_backend(backend)
    ds = build_dataset(rows, world, hw, cpu_backend=be.api == "cpu", backend=be)
    # measured depth curves shape the attention the fit sees, as they will shape the answers
    curves = curves_from_ops(op_rows or [])
    ds.features = attach(ds.features, curves)
    base, names = be.defaults, None
    if era_of is not None:
        from vtt.calibrate.fit import free_params

        base = {**be.defaults, **era_of.params}
        names = [k for k in free_params(ds) if k.startswith(ERA_PARAMS)] or None
    cal = fit_calibration(ds, hardware=hardware, backend=backend, base=base, names=names, cal_id=cal_id, notes=notes,
                          prior_scale=be.prior_scale)
    cal.builds = describe_builds(ds.rows) or cal.builds
    cal.attn_depth = curves or None
    if era_of is not None and era_of.families and cal.families:  # its matmul terms are era_of's
        from vtt.calibrate.fit import union_families

        cal.families = union_families(cal.families, era_of.families)
        if era_of.archs and cal.archs:  # union_families: any per-test lists of names
            cal.archs = union_families(cal.archs, era_of.archs)
    ops_notes = []
    if op_rows:
        from vtt.calibrate.ops_fit import fill_from_ops

        cal.params, ops_notes = fill_from_ops(cal.params, cal.param_names, op_rows, world)
    r = residuals(ds, cal)
    tg = ds.is_tg
    ape = abs_pct(np.exp(r), np.ones(len(r)))
    stats = {"in_sample": {"tg": summarize(ape[tg]), "pp": summarize(ape[~tg])},
             "models": sorted({x["model_id"] for x in ds.rows}),
             "families": sorted({x["family"] for x in ds.rows})}
    if op_rows:
        stats["operator_rows"] = {"n": len(op_rows), "set": ops_notes}
    cv = None
    if cross_validation and len(stats["families"]) >= 3:
        cv = cross_validate(ds, hardware=hardware, backend=backend, base=base)
        ok = np.isfinite(cv.predicted)
        cv_ape = abs_pct(cv.predicted, ds.measured)
        stats["leave_family_out"] = {"tg": summarize(cv_ape[ok & tg]), "pp": summarize(cv_ape[ok & ~tg])}
        sig = cv.sigma(ok)
        stats["sigma_source"] = "leave-family-out residuals: 90 % interval covers 90 % of held-out rows"
        stats["in_sample_sigma"] = dict(cal.sigma_log)
        floor = {**cal.sigma_log, **in_sample_band_sigma(r, sigma_keys(ds), len(cal.param_names or ()))}
        cal.sigma_log = {k: round(float(v), 4) for k, v in floor_sigma(sig, floor).items()}
    cal.residual_stats = stats
    return cal, cv


def in_sample_band_sigma(resid_log: np.ndarray, keys: np.ndarray, n_params: int) -> dict[str, float]:
    """The fit's residual sigma per test x depth band key ('tg@d=0') with >= MIN_BAND_ROWS rows,
    scaled like fit_calibration's per-test sigma for the p fitted parameters (sqrt(n / (n - p)))."""
    n = len(resid_log)
    dof = np.sqrt(n / max(n - n_params, 1))
    return {str(k): float(dof * np.sqrt(np.mean(resid_log[keys == k] ** 2)))
            for k in np.unique(keys) if np.sum(keys == k) >= MIN_BAND_ROWS}


def floor_sigma(held_out: dict[str, float], in_sample: dict[str, float]) -> dict[str, float]:
    """Held-out sigma per key, never below the fit's own residual sigma of that key (or its test).

    The held-out sigma is the residual width that, on top of each fold's prediction spread, covers
    90 % of held-out rows. That spread includes vtt.cost.coverage's widening for inputs the fold has
    not seen, which for a family that is the only one of its kind (ROCm b7938-b8460: Llama 2 is the
    only MHA model, Gemma 3 the only SWA one) covers the row on its own: the sigma then goes to 0
    and a `vtt plan` answer inside the calibration's rows (no widening, the full fit's small spread)
    got an interval narrower than the fit's own residuals (tg 0.0 against an in-sample 0.062)."""
    return {k: max(float(v), float(in_sample.get(k, in_sample.get(k.split("@")[0], 0.0)))) for k, v in held_out.items()}


def load_rows(*, db: str | None = None, csv: str | None = None, label: str | None = None) -> list[dict]:
    """Measured rows from the DuckDB store (default) or from a CSV in the public schema."""
    from vtt.calibrate.rows import csv_rows, store_rows

    if csv:
        return csv_rows(csv)
    from vtt.store import records
    from vtt.store.db import open_store

    with open_store(db, read_only=True) as st:
        return store_rows(records.results(st, label=label))


def load_op_rows(db: str | None, hardware: str, backend: str) -> list[dict]:
    """`vtt bench ops` rows of hardware x backend in the store (none when the store has none)."""
    from vtt.store.db import default_db_path, open_store
    from vtt.store.ops_records import op_results

    if not Path(db or default_db_path()).is_file():
        return []
    with open_store(db, read_only=True) as st:
        try:
            return op_results(st, hardware=hardware, backend=backend)
        except Exception as e:  # a store from before migration 0002 has no op_results table
            if "op_results" in str(e):
                return []
            raise


def run_calibrate(world: World, hardware: str, backend: str, *, db: str | None = None, csv: str | None = None,
                  label: str | None = None, since: int | None = None, save: bool = True, check=None) -> dict:
    """`vtt calibrate`: rows -> fit + leave-family-out sigma -> store + user YAML. Returns a summary."""
    from datetime import datetime, timezone

    from vtt.calibrate.rows import select_rows

    loaded = load_rows(db=db, csv=csv, label=label)
    rows = select_rows(loaded, backend, since=since)
    # rows of forks and patched builds (vtt.calibrate.rows.VARIANTS) describe another program: named, not fitted
    forks = len(select_rows(loaded, backend, since=since, variants=True)) - len(rows)
    if not rows:
        raise VttError(f"no measurements for backend '{backend}'" + (f" from build b{since}" if since else "")
                       + (f" ({forks} rows of llama.cpp forks or patched builds are not fitted)" if forks else ""),
                       code="no_data", hint="record some: vtt bench run ..., or vtt ingest FILE; see --csv")
    now = datetime.now(timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    op_rows = load_op_rows(db, hardware, backend) if (db or not csv) else []
    groups = split_by_era(rows, backend)
    eras = [g for g in groups if len(g) >= MIN_ERA_ROWS] or groups[-1:]
    out = {"calibration": None, "saved_to_store": None, "yaml": None, "eras": []}
    # One calibration per kernel era: every term fitted on all rows (decode and matmul kernels are
    # shared: more families teach them better), then each era's attention terms refitted on its own
    # rows around that fit. Leave-family-out on the public ROCm rows (family held out of both fits):
    # pp 13.0 -> 8.7 % in the newest era, 26.1 -> 24.0 % in the older; tg 4.6 -> 4.9, 9.8 -> 10.4.
    # The stored sigma of an era comes from a leave-family-out that refits every term on the era's rows
    # around the shared fit: wider than the era calibration's own error, never narrower.
    shared = None
    if len(eras) > 1:
        shared, _ = calibrate_rows([r for g in eras for r in g], world, hardware, backend, cross_validation=False,
                                   op_rows=op_rows)
    for i in reversed(range(len(eras))):
        era = f"--era{i}" if len(eras) > 1 else ""
        cal_id = f"{hardware}--{backend}--{stamp}" + (f"--{label}" if label else "") + era
        cal, _ = calibrate_rows(eras[i], world, hardware, backend, cal_id=cal_id, op_rows=op_rows, era_of=shared,
                                notes=f"vtt calibrate from {'CSV ' + csv if csv else 'the store'}"
                                      + (f", label {label}" if label else "") + (f", since b{since}" if since else "")
                                      + (f", {forks} rows of llama.cpp forks / patched builds left out" if forks else "")
                                      + (f", kernel era {i} of {backend}: attention terms of its rows, the rest "
                                         f"fitted on all {sum(map(len, eras))} rows" if era else ""))
        if check is not None:  # e.g. `vtt calibrate` refusing to replace a calibration with a thinner one
            check(cal)
        cal.created_at = now.isoformat(timespec="seconds")  # one batch: find_calibration's default picks its newest era
        one = _save(cal, hardware, backend, db=db, csv=csv, label=label, since=since) if save else \
            {"calibration": cal.to_dict(), "saved_to_store": None, "yaml": None}
        out["eras"].insert(0, {"id": cal.id, "builds": cal.builds, "n_points": cal.n_points, "yaml": one["yaml"]})
        if out["calibration"] is None:
            out.update(one)
    return out


# What a kernel era changes: the attention kernels (ROCm's WMMA flash attention between b7938 and
# b9187). Each era refits only these, around a fit of all rows: matmul and decode terms are shared
# (one ROCm calibration of both eras fits their depth-0 prompt rows within 5-9 %).
ERA_PARAMS = ("attn_", "pp_q_tile", "kv_", "fa_")

# An era with fewer rows than this is left out rather than fitted on its own (and never pooled).
MIN_ERA_ROWS = 12


def _save(cal: Calibration, hardware: str, backend: str, *, db, csv, label, since) -> dict:
    from vtt.calibration import export_user_calibration

    out = {"calibration": cal.to_dict(), "saved_to_store": None, "yaml": None}
    if not csv or db:
        from vtt.store import records
        from vtt.store.db import open_store

        with open_store(db) as st:
            out["saved_to_store"] = records.save_calibration(
                st, hardware, backend, cal.params,
                covariance={"param_names": cal.param_names, "matrix": cal.covariance},
                residual_stats={**(cal.residual_stats or {}), "sigma_log": cal.sigma_log},
                data_range={"calibration_id": cal.id, "builds": cal.builds, "build_bounds": cal.build_bounds(),
                            "n_points": cal.n_points, "label": label, "since": since})
    out["yaml"] = str(export_user_calibration(cal))
    return out
