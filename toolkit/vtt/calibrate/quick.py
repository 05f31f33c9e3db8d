"""`vtt calibrate --quick`: a new machine calibrated from a designed minimal set of measurements.

At most 10 minutes of bench time on the target (measured on an H100 with the pinned Vulkan build:
writing the models ~60 s, the llama-bench rows ~60 s, the operator set ~60-90 s; the H200 took
146 s before the MLA cell, which adds one ~3 GB model and two rows: ~15 s there, estimated), then
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
| GLM-4.7-Flash Q4_0 (MLA, 8 layers), pp and tg at depth 16384, flash attention | the 576-wide latent's prefill attention against Llama's 128: fa_hw2 where it runs the reference kernel (coopmat2, RADV coopmat1, CUDA MMA), fa_eff_scalar / fa_eff_tile where it falls back (AMDVLK, HIP); decode over one KV head shared by 20 query heads (kv_gqa beside Llama's GQA 4) |
| `vtt bench ops --profile quick` (test-backend-ops) | ratios the cells above leave open: F16 / K-quant matmul against Q4_0 / Q8_0; head width 256 and the 576-wide MLA latent against 128, the prior of fa_hw2 (vtt.calibrate.ops_fit) |

The fit is maximum a posteriori in log space: residuals log(predicted / measured) / sigma per row
plus (log p - log p_prior) / PRIOR_SD per parameter, solved by Levenberg-Marquardt with numpy
alone (no scipy: it runs on a bare GPU machine). A parameter no quick row identifies keeps its
prior; an operator ratio fills it where the prior has no fitted value.

The calibration records the cells its rows cover (`quick_coverage`: vtt.cost.coverage), so `vtt plan`
says `extrapolated` only outside them: another attention kind, head width or kernel path, a depth band
deeper than the rows, another build.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np

from vtt.calibration import Calibration, describe_builds

# (catalog id, layers kept, weight type) as written by vtt.gguf.write with random weights.
# GLM-4.7-Flash (deepseek2, MLA) keeps its geometry (20 heads on one 576-wide latent, 64 experts)
# in 8 of its 47 layers: ~3.2 GB at Q4_0, written beside the others while the operators run.
QUICK_MODELS = [("llama-3.1-8b", 32, "q4_0"), ("llama-3.1-8b", 32, "q8_0"), ("gpt-oss-20b", 24, "mxfp4"),
                ("glm-4.7-flash", 8, "q4_0")]
# (model index, flash attention, depths): one llama-bench invocation each, pp512 and tg128 at every depth.
# The MLA model runs at depth only: at depth 0 its prefill is its projection matmuls (the per-head
# absorbed wk_b / wv_b products, the q and kv LoRA pairs), which no vtt parameter tells apart from the
# shared matmul and MoE efficiencies; fitted, the H200's GLM row at depth 0 (predicted 30 % too fast
# there) pulled moe_pp 0.51 -> 0.36 and put gpt-oss and Qwen3-MoE prefill 15-28 % too slow
# (validation/h200 rows, simulated). At depth the latent's attention dominates: that is its cell.
QUICK_RUNS = [(0, 1, (0, 16384)), (0, 0, (4096,)), (1, 1, (0,)), (2, 1, (0,)), (3, 1, (16384,))]
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
    from vtt.calibrate.fit import dataset_archs, dataset_families, free_params, predict_log, union_families

    hw = world.get_hardware(hardware)
    be = world.get_backend(backend)
    import inspect

    # with the backend, rows carry their flash-attention kernel path (vtt.cost.attention), where it exists
    extra = {"backend": be} if "backend" in inspect.signature(build_dataset).parameters else {}
    ds = build_dataset(rows, world, hw, cpu_backend=be.api == "cpu", **extra)
    from vtt.cost.depth_curve import attach, curves_from_ops

    curves = curves_from_ops(op_rows or [])  # `vtt bench ops --profile depth` rows: the fit sees the curves
    ds.features = attach(ds.features, curves)
    base = {**prior.all_params()}
    names = [k for k in free_params(ds) if k in base]
    names += [k for k in width_law_params(ds) if k in base and k not in names]
    if "fa_hw2" in names and op_rows:
        # the operator rows' head-width slope on this card is the law's prior; the llama-bench rows move it
        from vtt.calibrate.ops_fit import fill_from_ops

        pre, _ = fill_from_ops(base, [k for k in base if k != "fa_hw2"], op_rows, world)
        base["fa_hw2"] = pre["fa_hw2"]
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
    from_ops = {n.split(" ", 1)[0] for n in notes}
    cells = quick_coverage(ds, op_rows if "fa_hw2" in from_ops else None, world, be)
    # a weight family whose prefill rate came from this card's MUL_MAT operator rows is measured here,
    # not a prior: vtt.cost.coverage does not flag it
    families = union_families(dataset_families(ds), {"pp": [k[3:] for k in from_ops if k.startswith("ce_")]})
    now = datetime.now(timezone.utc)
    return Calibration(
        id=cal_id or f"{hardware}--{backend}--{now.strftime('%Y%m%dT%H%M%SZ')}--quick",
        hardware=hardware, backend=backend,
        params={k: float(v) for k, v in params.items() if k in base},
        sigma_log=sigma, param_names=names, covariance=cov.tolist(), n_points=len(ds.rows), coverage=cells,
        families=families, archs=dataset_archs(ds), builds=describe_builds(ds.rows), attn_depth=curves or None,
        residual_stats={"in_sample": {"tg_rms_log": rms["tg"], "pp_rms_log": rms["pp"]},
                        "prior": prior.id, "prior_sd": sd_prior, "operator_rows": len(op_rows or []),
                        "operator_notes": notes, "models": sorted({x["model_id"] for x in ds.rows}),
                        "rows_skipped": [reason for _, reason in ds.skipped]},
        created_at=now.isoformat(timespec="seconds"),
        notes=f"vtt calibrate --quick: {len(ds.rows)} llama-bench rows + {len(op_rows or [])} operator rows, "
              f"MAP around {prior.id}",
    )


OPERATOR_KIND = "operator"  # the attention kind of an operator cell: no model's kind (see quick_coverage)


def quick_coverage(ds, op_rows, world, backend) -> list[dict] | None:
    """The coverage cells (vtt.cost.coverage) of a quick calibration: one per fitted llama-bench row's
    (test, FA path, head width, GQA, attention kind, depth band), as the full fit records them, plus
    cells of the flash-attention operator rows where the fit took the head-width law from them.

    What an operator row may cover. test-backend-ops times one FLASH_ATTN_EXT kernel alone at one
    (path, head width, GQA, KV length). The quick fit takes from such rows only a ratio between head
    widths on one path: fa_hw2 (ops_fit.fill_from_ops), where no llama-bench rows fitted it. So they
    cover what that law answers, the path and head width of the reference kernel (`op_rows` is None
    when the law did not come from them: then they cover nothing). They never cover an attention
    kind or a depth band: a model's prefill at depth is also its attention share, the KV re-reads
    across query tiles that a kernel run alone in a warm cache does not show, and the level
    (attn_pp_eff) that only llama-bench rows set; an MLA model is also its absorbed projections and
    K-only cache, not one 576-wide attention kernel. Their cells carry kind "operator", which no
    query's kind matches, so vtt.cost.coverage counts them for path and width only."""
    from vtt.calibrate.fit import dataset_cells
    from vtt.cost import attention, coverage

    cells = dataset_cells(ds) or []
    if not op_rows or backend is None:
        return cells or None
    from vtt.calibrate.ops_fit import _path_of

    dev = backend.device.model_dump()
    ref = attention.reference_path(backend.api, dev)
    keep = []
    for r in op_rows:
        d = r.get("shape") or {}
        if r.get("op") != "FLASH_ATTN_EXT" or d.get("n_q", 0) <= 1 or not r.get("flops_s"):
            continue  # decode-shaped or unsupported: fill_from_ops does not use it either
        path = _path_of({**r, "backend": r.get("backend") or backend.id}, world)
        if path == ref:
            keep.append((path, max(d["d_k"], d["d_v"]), d["n_head"] / d["n_head_kv"], d["n_kv"]))
    if keep:
        p, w, g, n_kv = zip(*keep)
        cells += coverage.coverage_cells(["pp"] * len(keep), p, w, g, [OPERATOR_KIND] * len(keep), n_kv)
    return cells or None


def width_law_params(ds) -> list[str]:
    """The head-width laws (vtt.cost.attention.path_eff) the quick rows inform.

    The full fit keeps fa_hw2 / fa_hw2_fb priors unless its rows span more than 4x in width
    (vtt.calibrate.fit.fa_path_params: the public rows span 64-256 only). The quick set is designed
    to measure the law on this card: its MLA cell runs the 576-wide latent at depth beside Llama's 128-wide heads. On the reference path (coopmat2,
    RADV's coopmat1, CUDA's MMA) attn_pp_eff is the rate at width 128 and the law is all that moves
    the 576-wide rate, so one prefill-at-depth row there at another width informs fa_hw2 (with
    Llama's row beside it, identifies it; without, the MAP prior splits the two). On a fallback path
    fa_eff_<path> is the rate at 128 and the law needs two widths there to be told apart from it."""
    f = ds.features
    if f.fa_ref is None or f.head_width is None:
        return []
    sel = (f.depth > 0) & ~ds.is_tg & f.flash_attn
    names = []
    groups = [(f.fa_path_full, f.head_width, f.attn_flops_full > 0)]
    if f.fa_path_swa is not None:  # sliding layers (their own width in Gemma 4), where a model has them
        groups.append((f.fa_path_swa, f.head_width_swa if f.head_width_swa is not None else f.head_width,
                       f.attn_flops_swa > 0))
    for path, width, has in groups:
        for idx in np.unique(path[sel & has]):
            m = sel & has & (path == idx)
            ws = set(np.round(np.log2(width[m] / 128.0), 1))
            if np.all(f.fa_ref[m] == idx):
                if ws - {0.0}:
                    names.append("fa_hw2")
            elif len(ws) > 1:
                names.append("fa_hw2_fb")
    return list(dict.fromkeys(names))


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
        # the llama-bench vtt drives (the pinned llama.cpp, after PR #19067) caches K only for MLA
        if r.get("mla_v_less") is None:
            r["mla_v_less"] = True
    op_rows = load_op_rows(str(db) if db else None, hardware, backend)
    cal = fit_quick(rows, world, hardware, backend, prior, op_rows=op_rows, transfer=transfer)
    return {"calibration": cal.to_dict(), "yaml": str(export_user_calibration(cal)), "bench_s": round(time.monotonic() - t0, 1),
            "label": label, "operators": ops}


def _write_models(world, out_dir) -> list:
    from vtt.gguf.write import write_random_gguf

    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_random_gguf(world.model(m), out_dir / f"{m}-{n}L-{w}.gguf", weight_type=w, n_layer=n)
            for m, n, w in QUICK_MODELS]
