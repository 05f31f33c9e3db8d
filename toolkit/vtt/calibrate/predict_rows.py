"""Predicted t/s, with its 90 % interval, for stored llama-bench rows (drift's --against-prediction).

The edge between stored rows and the pure cost model: it loads the catalog and the calibration
files, so it lives here and not in vtt.cost.
"""

from __future__ import annotations

from vtt.cost.depth_curve import attach
from vtt.cost.predict import predict_speed


def predict_rows(rows: list[dict], calibration=None) -> list[tuple[float, float, float] | None]:
    """(predicted_tps, lo, hi) of the 90 % interval for stored llama-bench result rows.

    Each row is a llama-bench record (model_filename, model_size, n_prompt, n_gen, n_depth,
    flash_attn, n_ubatch, type_k, type_v, avg_ts) or a row in the public CSV shape; pp tests
    get pp_tps, tg tests tg_tps. `calibration` is a Calibration (or None: the newest for the
    row's backend on strix-halo-128, else physics defaults). A row vtt cannot resolve gets None.
    """
    from vtt.calibrate.dataset import build_dataset
    from vtt.calibrate.rows import store_rows
    from vtt.errors import VttError
    from vtt.calibration import find_calibration
    from vtt.specs.catalog import default_world

    world = default_world()
    out: list = []
    for row in store_rows([dict(r) for r in rows]) if rows else []:
        row = {**row, "tg_tps": row.get("tg_tps") or 1.0, "pp_tps": row.get("pp_tps") or 1.0}
        hw_id = row.get("hardware") or "strix-halo-128"
        try:
            hw = world.get_hardware(hw_id if hw_id in world.hardware else "strix-halo-128")
            be = world.get_backend(row.get("backend") or hw.default_backend)
            ds = build_dataset([row], world, hw, cpu_backend=be.api == "cpu", backend=be)
        except VttError:
            out.append(None)
            continue
        cal = calibration or find_calibration(world.roots, hw.id, be.id, None, be.defaults)
        f = attach(ds.features, cal.attn_depth)
        sp = predict_speed(f, cal.all_params(), cal.sigma_log, cal.param_names or None, cal.cov())
        key = "tg" if ds.is_tg[0] else "pp"
        out.append((float(sp[f"{key}_tps"][0]), float(sp[f"{key}_lo"][0]), float(sp[f"{key}_hi"][0])))
    return out
