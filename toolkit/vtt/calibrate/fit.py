"""Fit speed parameters to measurements: least squares on log error, with weak priors.

Residuals are log(predicted / measured) for every pp and tg row, plus one prior residual per
parameter pulling it toward its physics default (log-normal, sd PRIOR_SD): parameters the data
cannot identify stay physical instead of wandering, and the covariance stays finite.
Covariance of log(params) = s^2 (J^T J)^-1, as scipy's curve_fit computes it.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from vtt.calibration import Calibration
from vtt.calibrate.dataset import Dataset
from vtt.cost import throughput
from vtt.cost.throughput import PARAM_DEFAULTS

PRIOR_SD = 1.0  # log-space: the data must move a parameter, by up to ~e-fold without strain
# Per-parameter prior widths where one differs. The fixed per-decoded-token costs are kernel
# launch / dispatch overheads: ~3 us per kernel under CUDA graphs, ~10 us and more per kernel on
# HIP without graphs, a few us per dispatch in a Vulkan command buffer; and a layer type's kernel
# count differs by architecture (a gated-DeltaNet layer runs ~20 kernels, attention ~15). Their
# 20 us defaults are known to within ~e^2, not e^1: with the default width a family whose layers
# cost several times more (ROCm's recurrent layers) could not move them and bent bw_eff instead.
PRIOR_SD_BY_PREFIX: dict[str, float] = {"t_layer_us": 2.0, "t_moe_layer_us": 2.0, "t_rec_layer_us": 2.0,
                                        "t_token_us": 2.0, "fa_eff_vec": 2.0}


# A weight family whose rows a data set lacks takes the fitted value of the family whose kernels
# it shares, times their ratio in the physics defaults. MXFP4 (4-bit e2m1 + one e8m0 scale per 32)
# runs llama.cpp's legacy block-format paths: the Q4_0-style mat-vec (dequant table, no K-quant
# super-blocks) and the same MMQ / dequant-to-tile GEMM, so a backend faster than its defaults on
# Q4_0 is faster on MXFP4 too.
# A fallback FA path without rows of two head widths follows the reference path's head-width law.
TIED: dict[str, str] = {"ce_mxfp4": "ce_legacy", "dq_mxfp4": "dq_legacy", "fa_hw2_fb": "fa_hw2"}
# A recurrent (SSM / gated-DeltaNet) layer without decode rows costs per token what the backend's
# attention layer does: both are a chain of small dispatches, and a layer's fixed cost is the
# backend's dispatch rate, not a constant. The ratio is the physics defaults' (1), not a prior
# calibration's (which fits t_layer_us but keeps t_rec_layer_us at its default without hybrid rows).
# The H200 (t_layer 51 µs, t_rec at the default 20) decoded Qwen3.6 hybrids 18-29 % slower than vtt
# said (validation/h200_unseen); on the Strix Halo folds, where hybrids are held out, within 0.1 point.
TIED_AT_DEFAULTS: dict[str, str] = {"t_rec_layer_us": "t_layer_us"}
# On the ggml-cuda backends (HIP, CUDA) Q8_0 shares the legacy kernels too: ggml-common.h block_q8_0 is
# one f16 scale + 32 int8 (no super-block); its mat-vec is the MMVQ template with vec_dot_q8_0_q8_1
# beside vec_dot_q4_0_q8_1 (mmvq.cu l.44-48), its prefill GEMM the same int8 MMA dot
# (vec_dot_q8_0_q8_1_mma, mmq.cuh l.733-758) after a plain tile copy where Q4_0 unpacks nibbles.
# Rows without Q8 (ROCm with the SWA/hybrid kind held out: its Q8 rows are all Qwen3.6 / Gemma 3) then
# take the legacy family's fitted speed-up over K-quants times the backend defaults' ratio (ROCm: dq_q8
# 1.1 x dq_legacy, specs/backends/rocm.yaml: half the dot-product work per byte) instead of 1.
# Leave-attention-kind-out ROCm tg 8.5 -> 5.6 % (the held-out Qwen3.6 Q8 files had decoded 9-11 % faster
# than a Q4_0-equal rate). Not on Vulkan, whose shaders (mul_mat_vec.comp, dequant_funcs.glsl) were
# not read for this: fitted there the two differ (AMDVLK dq_q8 0.97, dq_legacy 1.06), and tied,
# AMDVLK's leave-attention-kind-out tg got worse (4.7 -> 6.0 %).
TIED_CUDA: dict[str, str] = {"dq_q8": "dq_legacy", "ce_q8": "ce_legacy"}
CUDA_BACKENDS = ("rocm", "cuda")  # backend ids built on ggml/src/ggml-cuda
# Any other weight family without prefill rows keeps its physics defaults' ratio to the fitted
# K-quant rate (ce_k), not its absolute default: the absolute GEMM rate is what moves between drivers
# and build eras (AMDVLK's prefill fell ~4x between its 2025 and 2026 builds, and the backend spec's
# defaults describe the 2026 one), the ratio between weight families much less. Leave-family-out
# 2025 AMDVLK pp at depth 0: 29.7 -> 25.9 %, architecture 33.6 -> 27.4, attention kind 40.2 -> 26.3
# (held out, llama-2-7b Q4_0 sat at the 2026 ce_legacy, 3.5x slow); ROCm 2025, whose dense GEMMs all
# ran one rocBLAS F16 path whatever the family, 18.8 -> 20.9 / 20.8 -> 21.8 / 18.2 -> 18.9; every 2026
# fold's median unchanged.


def tied_params(fitted: dict, names: list[str], base: dict, backend: str | None = None) -> dict:
    """Values for TIED parameters that were not fitted but whose anchor was."""
    tied = {**TIED, **(TIED_CUDA if backend in CUDA_BACKENDS else {})}
    out = {k: fitted[a] * base[k] / base[a] for k, a in tied.items() if k not in names and a in names}
    out |= {k: fitted[a] * PARAM_DEFAULTS[k] / PARAM_DEFAULTS[a]
            for k, a in TIED_AT_DEFAULTS.items() if k not in names and a in names}
    if "ce_k" in names:  # FAMILY_TIES_TO_K: the rest keep their defaults' ratio to the fitted K-quant rate
        out |= {f"ce_{x}": fitted["ce_k"] * base[f"ce_{x}"] / base["ce_k"] for x in throughput.FAMILIES
                if f"ce_{x}" not in names and f"ce_{x}" not in out}
    return out


def prior_sd(name: str) -> float:
    return next((v for k, v in PRIOR_SD_BY_PREFIX.items() if name.startswith(k)), PRIOR_SD)


def predict_log(ds: Dataset, params: dict) -> np.ndarray:
    tg = ds.is_tg
    out = np.empty(len(ds.rows))
    f = ds.features
    pp_v = throughput.pp_tps(f, params)
    tg_v = throughput.tg_tps(f, params)
    out[tg] = np.log(tg_v[tg])
    out[~tg] = np.log(pp_v[~tg])
    return out


def free_params(ds: Dataset) -> list[str]:
    """The parameters these rows can inform (e.g. no ce_iq without IQ rows)."""
    f = ds.features
    fams = {throughput.FAMILIES[i] for i in np.unique(f.family_idx[~ds.is_tg])}
    names = ["bw_eff", "t_layer_us", "t_token_us"]
    tg = ds.is_tg
    if np.any(f.is_moe[tg]) and np.any(~f.is_moe[tg]):
        names.append("t_moe_layer_us")
    if f.w_unplaced_bytes is not None and np.any(f.is_moe[tg] & (f.w_unplaced_bytes[tg] > 0)):
        names.append("unplaced_read")
    if np.any(f.n_rec_layers[tg] > 0) and np.any(f.n_rec_layers[tg] == 0):
        names += ["t_rec_layer_us", "state_rw"]
    # dq_<family> is a mat-vec bandwidth relative to a reference family: with K-quant decode rows
    # K-quants are the reference (dq_k = 1); without them (e.g. a matrix of F16 / Q8_0 / Q4_0 files)
    # the family with the most decode rows keeps its default and anchors bw_eff, and the others
    # are fitted relative to it. Otherwise F16 and Q4_0 decode share one bandwidth although their
    # mat-vec kernels differ (dequantisation ALU per byte).
    fam_tg, n_tg = np.unique(f.family_idx[tg], return_counts=True)
    dec_fams = [throughput.FAMILIES[i] for i in fam_tg]
    if len(dec_fams) > 1:
        ref = "k" if "k" in dec_fams else dec_fams[int(np.argmax(n_tg))]
        names += [f"dq_{x}" for x in throughput.FAMILIES if x in dec_fams and x not in (ref, "k")]
    # expert mat-vec factor of a family: needs MoE and dense decode rows of that family
    for x in throughput.FAMILIES:
        sel = tg & (f.family_idx == throughput.FAMILIES.index(x))
        if f"dqx_{x}" in PARAM_DEFAULTS and np.any(f.is_moe[sel]) and np.any(~f.is_moe[sel]):
            names.append(f"dqx_{x}")
    if np.any(ds.features.depth > 0):
        names += ["kv_eff", "attn_dec_eff", "attn_pp_eff", "kv_gqa"]
        # HIP's vec decode kernel (MHA) against the tile / WMMA one: needs decode rows at depth on both
        if f.dec_vec_full is not None:
            deep = tg & (f.depth > 0) & f.flash_attn
            if np.any(deep & (f.dec_vec_full > 0)) and np.any(deep & (f.dec_vec_full == 0)):
                names.append("kv_vec")
        if np.any((f.depth > 0) & ~ds.is_tg & f.flash_attn):
            names.append("kv_tile_reuse")
            names += fa_path_params(ds)
        if np.any(~f.flash_attn & (f.depth > 0)):
            names += ["kv_nofa", "attn_nofa"]
    elif np.any(~ds.is_tg & f.flash_attn) and np.any(~ds.is_tg & ~f.flash_attn):
        # prompts at depth 0 only (the 2025 eras), with and without flash attention: the contrast
        # carries the FA kernels' rate (2025 HIP: rocWMMA or the vec kernel, vtt.cost.attention)
        names += ["attn_pp_eff", *fa_path_params(ds, depth0=True)]
    names += [f"ce_{x}" for x in throughput.FAMILIES if x in fams]
    if np.any(f.is_moe[~ds.is_tg]) and np.any(~f.is_moe[~ds.is_tg]):
        names.append("moe_pp")
        # rows per expert GEMM: needs MoE prefill rows at more than one tokens-per-expert
        if f.n_expert_frac is not None:
            tpe = throughput.expert_rows(np.minimum(f.n_prompt, np.maximum(f.n_ubatch, 1)),
                                         f.n_expert_frac)[1][~ds.is_tg & f.is_moe]
            if len(np.unique(np.round(tpe, 3))) > 1:
                names.append("moe_tpe_half")
    names.append("t_ubatch_ms")
    if f.tensile is not None and np.any(f.tensile[~ds.is_tg] > 0) and np.any(f.tensile[~ds.is_tg] == 0):
        names.append("ce_tensile")  # prompts on rocBLAS's Tensile kernels beside hipBLASLt / MMQ ones
    rec_pp = f.rec_flops[~ds.is_tg] if f.rec_flops is not None else np.zeros(0)
    if np.any(rec_pp > 0) and np.any(rec_pp == 0):
        names.append("rec_pp_eff")
    return names


def fa_path_params(ds: Dataset, depth0: bool = False) -> list[str]:
    """FA kernel-path parameters the prefill-at-depth rows (`depth0`: the prompts at depth 0, where
    no row has depth) can inform: fa_eff_<path> for a fallback path some rows run."""
    from vtt.cost import attention

    f = ds.features
    if f.fa_ref is None or f.head_width is None:
        return []
    sel = ((f.depth > 0) | depth0) & ~ds.is_tg & f.flash_attn
    names = []
    swa_width = f.head_width_swa if f.head_width_swa is not None else f.head_width
    for path, width in ((f.fa_path_full, f.head_width), (f.fa_path_swa, swa_width)):
        if path is None:
            continue
        for idx in np.unique(path[sel]):
            m = sel & (path == idx)
            is_ref = bool(np.all(f.fa_ref[m] == idx))
            eff_k = None if is_ref else f"fa_eff_{attention.PATHS[idx]}"
            if eff_k in PARAM_DEFAULTS:
                names.append(eff_k)
            # The reference path's head-width law is fitted only where its rows span more than the
            # 64-256 of the public Strix Halo rows (fitted there it was worse held out, see
            # PARAM_DEFAULTS): an MLA or 512-wide model beside 64-128-wide ones (the H100 matrix:
            # GLM-4.7-Flash's 576 against gpt-oss's 64 and Llama's 128). The fallback law stays a prior.
            widths = width[m]
            if is_ref and len(widths) and widths.max() > 4 * widths.min():
                names.append("fa_hw2")
    return list(dict.fromkeys(names))


def dataset_families(ds: Dataset) -> dict[str, list[str]]:
    """The weight families of a data set's rows, per test (Calibration.families)."""
    fam = np.asarray(ds.features.family_idx)
    return {t: sorted({throughput.FAMILIES[i] for i in np.unique(fam[sel])})
            for t, sel in (("pp", ~ds.is_tg), ("tg", ds.is_tg))}


def dataset_archs(ds: Dataset) -> dict[str, list[str]]:
    """The GGUF architectures of a data set's rows, per test (Calibration.archs)."""
    archs = np.array([rm.arch.arch if rm is not None else "" for rm in ds.resolved])
    return {t: sorted(set(archs[sel].tolist()) - {""}) for t, sel in (("pp", ~ds.is_tg), ("tg", ds.is_tg))}


def union_families(*families: dict) -> dict[str, list[str]]:
    """Calibration.families of several sources of measurements, per test."""
    return {t: sorted(set().union(*(f.get(t, []) for f in families))) for t in ("pp", "tg")}


def dataset_cells(ds: Dataset) -> list[dict] | None:
    """The coverage cells of a data set (vtt.cost.coverage); None without kernel paths (no backend)."""
    from vtt.cost import attention, coverage

    f = ds.features
    if f.fa_path_full is None or not len(ds.rows):
        return None
    kinds = [attention.attention_kind(r.arch) for r in ds.resolved]
    return coverage.coverage_cells(["tg" if t else "pp" for t in ds.is_tg],
                                   [attention.PATHS[i] for i in f.fa_path_full], f.head_width, f.gqa, kinds, f.depth)


def row_weights(ds: Dataset) -> np.ndarray:
    """Balance model families: a family with n rows of a test weighs sqrt(n), not n, so one
    heavily benchmarked family (e.g. 150 Qwen3.5-MoE rows) does not set the constants for all."""
    keys = [(r.get("family"), r.get("test")) for r in ds.rows]
    counts: dict = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    w = np.array([1.0 / np.sqrt(counts[k]) for k in keys])
    return w / np.sqrt(np.mean(w**2))


def fit_calibration(ds: Dataset, *, hardware: str, backend: str, base: dict | None = None,
                    names: list[str] | None = None, cal_id: str | None = None, notes: str | None = None,
                    prior_scale: float = 1.0) -> Calibration:
    """`prior_scale` widens every prior: a backend whose physics defaults are guesses, not
    established from earlier data, lets its measurements move the parameters further."""
    from scipy.optimize import least_squares

    base_in = base
    base = {**PARAM_DEFAULTS, **(base or {})}
    names = names or free_params(ds)
    x0 = np.log([base[k] for k in names])
    prior = x0.copy()
    # prior_scale widens every prior to at least PRIOR_SD x prior_scale (a per-parameter width
    # that is already wider stays: the widths do not compound)
    sds = np.array([max(prior_sd(k), PRIOR_SD * prior_scale) for k in names])
    y = np.log(ds.measured)
    wts = row_weights(ds)

    def unpack(x):
        return {**base, **dict(zip(names, np.exp(x)))}

    def resid(x):
        r = (predict_log(ds, unpack(x)) - y) * wts
        return np.concatenate([r, (x - prior) / sds])

    sol = least_squares(resid, x0, method="trf", loss="soft_l1", f_scale=0.3, max_nfev=400)
    params = unpack(sol.x)
    r = (predict_log(ds, params) - y)
    n, p = len(r), len(names)
    s2 = float(np.sum(r**2) / max(n - p, 1))
    J = sol.jac
    try:
        cov = np.linalg.pinv(J.T @ J) * s2
    except np.linalg.LinAlgError:  # pragma: no cover
        cov = np.diag(sds**2)
    tg = ds.is_tg
    # In-sample RMS understates the error on new rows by sqrt(n / (n - p)) (p parameters were
    # fitted to these n rows): the unbiased residual variance, so an interval without
    # cross-validation (small data sets) is not too narrow. Cross-validation replaces it.
    dof = np.sqrt(n / max(n - p, 1))
    sig = {
        "tg": float(dof * np.sqrt(np.mean(r[tg] ** 2))) if tg.any() else 0.3,
        "pp": float(dof * np.sqrt(np.mean(r[~tg] ** 2))) if (~tg).any() else 0.45,
    }
    builds = sorted({str(x.get("llama_cpp_build")) for x in ds.rows if x.get("llama_cpp_build")})
    cells = dataset_cells(ds)
    now = datetime.now(timezone.utc)
    return Calibration(
        id=cal_id or f"{hardware}--{backend}--{now.strftime('%Y%m%dT%H%M%SZ')}",
        hardware=hardware, backend=backend,
        # Parameters these rows cannot inform keep the backend's physics defaults, stored with the
        # fitted ones: Calibration.all_params() falls back to the generic PARAM_DEFAULTS, so without
        # them e.g. AMDVLK (ce_* ~0.08: 32 KB shared memory) would predict a weight family it has no
        # prefill rows for at the generic ce ~0.28, 3x too fast.
        params={**{k: float(params[k]) for k in names},
                **{k: float(v) for k, v in (base_in or {}).items() if k in PARAM_DEFAULTS and k not in names},
                **{k: float(v) for k, v in tied_params(params, names, base, backend).items()}},
        sigma_log=sig, param_names=names, covariance=cov.tolist(), n_points=n, coverage=cells,
        families=dataset_families(ds), archs=dataset_archs(ds), builds=(f"{builds[0]} .. {builds[-1]}" if builds else None),
        created_at=now.isoformat(timespec="seconds"), notes=notes,
    )


def residuals(ds: Dataset, cal: Calibration) -> np.ndarray:
    """log(predicted / measured) per row under a calibration."""
    return predict_log(ds, cal.all_params()) - np.log(ds.measured)
