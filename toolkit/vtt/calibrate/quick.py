"""`vtt calibrate --quick`: a new machine calibrated from a designed minimal set of measurements.

At most 10 minutes of bench time on the target (measured on an H100 with the pinned Vulkan build:
writing the three models ~60 s, the ten llama-bench rows ~60 s, the operator set ~60-90 s), then
a fit of the parameters those rows identify, starting from a prior: the newest calibration of
the same hardware x backend, else one of another card carried to this card's spec sheet
(`--prior CAL_ID`; efficiencies transfer, bandwidth and FLOPs come from the spec), else the
backend's physics defaults.

The design. Each cell is chosen for the parameters it identifies (vtt.cost.throughput's terms):

| cells (llama-bench -p 512 / -n 128, -r 3, warm-up first) | identifies |
|---|---|
| Llama-3.1-8B Q4_0 and Q8_0, tg d0 | bw_eff and the per-layer fixed cost t_layer_us apart: same layers, 2x the bytes |
| Llama-3.1-8B Q4_0 and Q8_0, pp d0 | ce_legacy, ce_q8 (prefill matmul share of peak), t_ubatch_ms |
| Llama-3.1-8B Q4_0, pp and tg at depth 16384, flash attention | attn_pp_eff (prefill attention), attn_dec_eff and kv_eff (decode KV reads) |
| Llama-3.1-8B Q4_0, pp and tg at depth 4096, no flash attention | attn_nofa, kv_nofa |
| gpt-oss-20B MXFP4 (24 layers), pp and tg d0 | t_moe_layer_us, moe_pp, ce_mxfp4, dq_mxfp4 (MoE routing, expert GEMMs, MXFP4) |
| `vtt bench ops --profile quick` (test-backend-ops) | ratios the cells above leave open: F16 / K-quant matmul against Q4_0 / Q8_0, head width 256 and the 576-wide MLA latent against 128 (vtt.calibrate.ops_fit) |

The fit is maximum a posteriori in log space: residuals log(predicted / measured) / sigma per row
plus (log p - log p_prior) / PRIOR_SD per parameter, solved by Levenberg-Marquardt with numpy
alone (no scipy: it runs on a bare GPU machine). A parameter no quick row identifies keeps its
prior; an operator ratio fills it where the prior has no fitted value.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

from vtt.calibration import Calibration, describe_builds

# (catalog id, layers kept, weight type) as written by vtt.gguf.write with random weights.
QUICK_MODELS = [("llama-3.1-8b", 32, "q4_0"), ("llama-3.1-8b", 32, "q8_0"), ("gpt-oss-20b", 24, "mxfp4")]
# (model index, flash attention, depths): one llama-bench invocation each, pp512 and tg128 at every depth.
QUICK_RUNS = [(0, 1, (0, 16384)), (0, 0, (4096,)), (1, 1, (0,)), (2, 1, (0,))]
N_PROMPT, N_GEN, REPETITIONS = 512, 128, 3
BENCH_BUDGET_S = 600

PRIOR_SD_TRANSFER = 0.5  # log: a calibration of another card of the same backend (same kernels)
PRIOR_SD_PHYSICS = 1.0  # log: physics defaults (times the backend's prior_scale)
ROW_SIGMA = 0.08  # log: spread of a steady llama-bench row about the model (the H100's in-sample rms)


def quick_cells() -> list[tuple[str, int, int, str]]:
    """(model file name, flash_attn, depth, test) of every quick llama-bench row."""
    out = []
    for mi, fa, depths in QUICK_RUNS:
        m, n, w = QUICK_MODELS[mi]
        for d in depths:
            for t in ("pp", "tg"):
                out.append((f"{m}-{n}L-{w}.gguf", fa, d, t))
    return out


def fit_quick(rows: list[dict], world, hardware: str, backend: str, prior: Calibration, *,
              op_rows: list[dict] | None = None, cal_id: str | None = None, transfer: bool = True) -> Calibration:
    """MAP fit of the parameters the quick rows identify, around `prior` (see the module docstring)."""
    from vtt.calibrate.dataset import build_dataset
    from vtt.calibrate.fit import free_params, predict_log

    hw = world.get_hardware(hardware)
    be = world.get_backend(backend)
    import inspect

    # with the backend, rows carry their flash-attention kernel path (vtt.cost.attention), where it exists
    extra = {"backend": be} if "backend" in inspect.signature(build_dataset).parameters else {}
    ds = build_dataset(rows, world, hw, cpu_backend=be.api == "cpu", **extra)
    base = {**prior.all_params()}
    names = [k for k in free_params(ds) if k in base]
    sd_prior = PRIOR_SD_TRANSFER if transfer and not prior.is_physics_default else PRIOR_SD_PHYSICS * be.prior_scale
    x0 = np.log([base[k] for k in names])
    y = np.log(ds.measured)

    def params_of(x):
        return {**base, **dict(zip(names, np.exp(x)))}

    def resid(x):
        return np.concatenate([(predict_log(ds, params_of(x)) - y) / ROW_SIGMA, (x - x0) / sd_prior])

    x, J = _levenberg_marquardt(resid, x0)
    params = params_of(x)
    r = predict_log(ds, params) - y
    try:
        cov = np.linalg.inv(J.T @ J)  # posterior covariance of log(params) (residuals are standardised)
    except np.linalg.LinAlgError:  # pragma: no cover
        cov = np.diag(np.full(len(names), sd_prior**2))
    tg = ds.is_tg
    rms = {"tg": float(np.sqrt(np.mean(r[tg] ** 2))) if tg.any() else 0.0,
           "pp": float(np.sqrt(np.mean(r[~tg] ** 2))) if (~tg).any() else 0.0}
    # few rows: never narrower than the prior's spread or the rows' own misfit
    sigma = {k: round(max(float(prior.sigma_log.get(k, 0.1)), rms[k], ROW_SIGMA), 4) for k in ("tg", "pp")}
    notes = []
    if op_rows:
        from vtt.calibrate.ops_fit import fill_from_ops

        open_ = [k for k in params if k not in names and k not in (prior.param_names or [])]
        filled, notes = fill_from_ops(params, [k for k in params if k not in open_], op_rows, world)
        params = filled
    now = datetime.now(timezone.utc)
    return Calibration(
        id=cal_id or f"{hardware}--{backend}--{now.strftime('%Y%m%dT%H%M%SZ')}--quick",
        hardware=hardware, backend=backend,
        params={k: float(v) for k, v in params.items() if k in base},
        sigma_log=sigma, param_names=names, covariance=cov.tolist(), n_points=len(ds.rows),
        builds=describe_builds(ds.rows),
        residual_stats={"in_sample": {"tg_rms_log": rms["tg"], "pp_rms_log": rms["pp"]},
                        "prior": prior.id, "prior_sd": sd_prior, "operator_rows": len(op_rows or []),
                        "operator_notes": notes, "models": sorted({x["model_id"] for x in ds.rows}),
                        "rows_skipped": [reason for _, reason in ds.skipped]},
        created_at=now.isoformat(timespec="seconds"),
        notes=f"vtt calibrate --quick: {len(ds.rows)} llama-bench rows + {len(op_rows or [])} operator rows, "
              f"MAP around {prior.id}",
    )


def _levenberg_marquardt(resid, x0: np.ndarray, max_iter: int = 60, eps: float = 1e-5):
    """Minimise |resid(x)|^2 from x0; returns (x, Jacobian at x). Forward-difference Jacobian."""
    x = x0.copy()
    r = resid(x)
    cost = float(r @ r)
    lam = 1e-2

    def jac(x, r):
        J = np.empty((len(r), len(x)))
        for i in range(len(x)):
            xe = x.copy()
            xe[i] += eps
            J[:, i] = (resid(xe) - r) / eps
        return J

    J = jac(x, r)
    for _ in range(max_iter):
        A = J.T @ J
        g = J.T @ r
        step = np.linalg.solve(A + lam * (np.diag(np.diag(A)) + 1e-9 * np.eye(len(x))), -g)
        xn = x + step
        rn = resid(xn)
        cn = float(rn @ rn)
        if math.isfinite(cn) and cn < cost:
            x, r, cost = xn, rn, cn
            lam = max(lam / 3, 1e-7)
            J = jac(x, r)
            if np.max(np.abs(step)) < 1e-6:
                break
        else:
            lam *= 4
            if lam > 1e8:
                break
    return x, J


def transfer_calibration(cal: Calibration, hardware: str, cal_id: str | None = None) -> Calibration:
    """`cal`'s efficiencies filed under another card: its spec sheet supplies bandwidth and FLOPs."""
    d = cal.to_dict()
    d.update(id=cal_id or f"{hardware}--{cal.backend}--from-{cal.id}", hardware=hardware,
             notes=f"transferred from {cal.id} ({cal.hardware}): efficiencies carried to {hardware}'s spec sheet")
    return Calibration.from_dict(d)


def run_quick(world, hardware: str, backend: str, *, ops_backend: str, model_dir, db=None, prior_id: str | None = None,
              prior_hardware: str | None = None, llama_bench=None, test_backend_ops=None, label: str | None = None,
              models: list[str] | None = None, on_step=None) -> dict:
    """Measure the quick set on this machine and fit: `vtt calibrate --quick`. `models` replaces the
    written quick models by given files (one per QUICK_MODELS entry, or one for all runs: a test)."""
    import time
    from pathlib import Path

    from vtt.calibration import export_user_calibration, find_calibration
    from vtt.calibrate.pipeline import load_op_rows, load_rows
    from vtt.harness.locate import find_llama_bench
    from vtt.harness.matrix import BenchMatrix, expand_cells
    from vtt.harness.ops import bench_ops, op_cases
    from vtt.harness.run import run_matrix

    step = on_step or (lambda msg: None)
    t0 = time.monotonic()
    be = world.get_backend(backend)
    prior = find_calibration(world.roots, hardware, backend, None, be.defaults)
    transfer = False
    if prior_id or prior_hardware or prior.is_physics_default:
        src_hw = prior_hardware or hardware
        p = find_calibration(world.roots, src_hw, backend, prior_id, be.defaults)
        if not p.is_physics_default:
            prior, transfer = (transfer_calibration(p, hardware) if p.hardware != hardware else p), True
    label = label or "quick-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    step(f"prior {prior.id}")
    ops = bench_ops(op_cases("quick" if ops_backend.upper() != "CPU" else "ci"), backend=ops_backend, db=db,
                    label=label + "-ops", hardware=hardware, vtt_backend=backend, binary=test_backend_ops,
                    timeout_s=BENCH_BUDGET_S / 3)
    step(f"operators: {ops['supported']} of {ops['cases']} in {ops['wall_s']:.0f} s")
    files = [Path(m) for m in models] if models else _write_models(world, Path(model_dir))
    binary = str(find_llama_bench(llama_bench))
    cells, first = [], None
    for mi, fa, depths in QUICK_RUNS:
        m = BenchMatrix(models=[str(files[min(mi, len(files) - 1)])], n_prompt=[N_PROMPT], n_gen=[N_GEN],
                        n_depth=list(depths), repetitions=REPETITIONS, flash_attn=[bool(fa)], n_gpu_layers=[99])
        first = first or m
        cells += expand_cells(m, None)
    left = BENCH_BUDGET_S - (time.monotonic() - t0)
    run_matrix(cells, llama_bench=binary, db=db, label=label, matrix=first,
               cell_timeout_s=max(left / max(len(cells), 1) * 2, 30))
    step(f"llama-bench cells done at {time.monotonic() - t0:.0f} s")
    rows = load_rows(db=str(db) if db else None, label=label)
    by_name = {f.name: f for f in files}
    for r in rows:  # the store keeps the file name; resolve through the file itself (its GGUF header)
        if r.get("model") in by_name:
            r["model"] = str(by_name[r["model"]])
    op_rows = load_op_rows(str(db) if db else None, hardware, backend)
    cal = fit_quick(rows, world, hardware, backend, prior, op_rows=op_rows, transfer=transfer)
    return {"calibration": cal.to_dict(), "yaml": str(export_user_calibration(cal)), "bench_s": round(time.monotonic() - t0, 1),
            "label": label, "operators": ops}


def _write_models(world, out_dir) -> list:
    from vtt.gguf.write import write_random_gguf

    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_random_gguf(world.model(m), out_dir / f"{m}-{n}L-{w}.gguf", weight_type=w, n_layer=n)
            for m, n, w in QUICK_MODELS]
