"""From a resolved model + hardware + runtime arrays to the numbers `vtt plan` answers.

Pure: no I/O. Vectorised over the queries of one (model, quant) group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vtt.cost import depth_curve, memory, throughput
from vtt.cost.attention import attention_geometry
from vtt.cost.coverage import Z90, band_sigma, depth_band
from vtt.cost.weights import WeightProfile
from vtt.specs.hardware import Hardware
from vtt.specs.model_arch import CSA_RATIO, FFN_MOE, HCA_RATIO, MIXER_FULL, MIXER_RECURRENT, MIXER_SWA, ModelArch
from vtt.specs.runtime import KV_TYPE_BYTES
from vtt.units import GIB



@dataclass(frozen=True)
class ResolvedModel:
    arch: ModelArch
    weights: WeightProfile
    family: str  # speed family of the weights (FileType.family)
    model_label: str
    quant_label: str
    source: str  # "catalog", "gguf", "gguf-url"


def speed_features(r: ResolvedModel, hw: Hardware, q: dict[str, np.ndarray], backend=None) -> throughput.SpeedFeatures:
    """`backend` (a specs Backend) picks the FA kernel path per layer group (vtt.cost.attention);
    without it every group runs the reference path."""
    a = r.arch
    n = len(q["n_prompt"])
    lay = memory.kv_layout(a, bool(q.get("mla_v_less", False)))
    bk = np.array([KV_TYPE_BYTES[t] for t in q["type_k"]]) if n else np.zeros(0)
    bv = np.array([KV_TYPE_BYTES[t] for t in q["type_v"]]) if n else np.zeros(0)
    full, swa = memory.kv_cells(q["context"], q["parallel"], q["n_ubatch"], False, False, a.swa_window)
    per_stream = full // np.maximum(q["parallel"], 1)
    swa_cells = np.where(lay.n_swa > 0, swa // np.maximum(q["parallel"], 1), 0)
    mix = a.mixers
    hq = a.head_dim_q or a.head_dim_k
    # FLOPs per (query token x cached cell) per layer: QK^T over K width, PV over V width.
    # Layer groups (Gemma 4): full layers at head_dim_k with n_head_kv, sliding layers at swa_head_dim
    # with swa_n_head_kv; where the arch gives no sliding geometry both groups share one.
    if a.mla:
        per_layer = 2.0 * a.n_head * (a.head_dim_k + a.head_dim_v)
        per_layer_swa = per_layer
    elif a.swa_head_dim:
        per_layer = 2.0 * a.n_head * (a.head_dim_k + a.head_dim_v)
        per_layer_swa = 2.0 * a.n_head * 2 * a.swa_head_dim
    else:
        per_layer = 2.0 * a.n_head * (hq + a.head_dim_v)
        per_layer_swa = per_layer
    kv_full_cell = lay.full_k_elems * bk + lay.full_v_elems * bv
    kv_swa_cell = lay.swa_k_elems * bk + lay.swa_v_elems * bv
    flops_full = per_layer * mix.count(MIXER_FULL)
    flops_swa = per_layer_swa * mix.count(MIXER_SWA)
    if a.compressed:  # every layer is a raw window (the defaults above); the compressed entries scale with context
        kv_full_cell, flops_full = _compressed_attention(a, lay, bk, per_layer)
    width_full = float(max(a.head_dim_k, a.head_dim_v, hq))
    width_swa = float(a.swa_head_dim or width_full)
    gqa_full = a.n_head / max(a.n_head_kv or a.n_head, 1) if not a.mla else float(a.n_head)
    gqa_swa = a.n_head / max(a.swa_n_head_kv or a.n_head_kv or a.n_head, 1) if not a.mla else float(a.n_head)
    paths = {}
    if backend is not None:
        from vtt.cost import attention

        dev = backend.device.model_dump()
        ref = attention.PATHS.index(attention.reference_path(backend.api, dev))
        paths = {"fa_ref": np.full(n, ref, dtype=int),
                 "fa_path_full": np.full(n, attention.path_index(attention.fa_path(backend.api, dev, [width_full], [gqa_full]))[0], dtype=int),
                 "fa_path_swa": np.full(n, attention.path_index(attention.fa_path(backend.api, dev, [width_swa], [gqa_swa]))[0], dtype=int)}
        # decode's FA kernel per layer group: HIP's vec kernel or not (quantized K/V always take it)
        kv_q = np.array([t not in ("f16", "f32", "bf16") for t in q["type_k"]]) | \
            np.array([t not in ("f16", "f32", "bf16") for t in q["type_v"]])
        paths["dec_vec_full"] = attention.decode_vec(backend.api, dev, np.full(n, width_full), gqa_full, kv_q).astype(float)
        paths["dec_vec_swa"] = attention.decode_vec(backend.api, dev, np.full(n, width_swa), gqa_swa, kv_q).astype(float)
        # the cells a sliding layer's FA kernel does not skip (Vulkan: the window; 0 without sliding layers)
        swa_path = str(attention.fa_path(backend.api, dev, [width_swa], [gqa_swa])[0])
        paths["swa_fa_cells"] = attention.swa_fa_cells(
            backend.api, swa_path, np.minimum(swa_cells, per_stream).astype(float), a.swa_window)
        # older HIP builds on RDNA3: flash attention on rocWMMA or the vec kernel, and a prompt's dense
        # GEMMs on rocBLAS (without hipBLASLt, on its Tensile kernels)
        from vtt.cost import gemm

        old = attention.hip_rdna3_before_wmma(backend.api, dev, q.get("build", [None] * n))
        if old.any():
            rocwmma = q.get("rocwmma", [None] * n)
            paths["fa_path_full"] = attention.fa_path_before_wmma(paths["fa_path_full"], old, rocwmma)
            paths["fa_path_swa"] = attention.fa_path_before_wmma(paths["fa_path_swa"], old, rocwmma)
        ub_tokens = np.minimum(np.asarray(q["n_prompt"], dtype=float), np.asarray(q["n_ubatch"], dtype=float))
        paths["tensile"] = gemm.tensile_share(old, q.get("hipblaslt", [None] * n), ub_tokens)
    # BF16 weights are their own speed family: bf16 support differs by backend (RADV: none).
    fam = "bf16" if r.family == "f16" and r.quant_label.upper().startswith("BF16") else r.family
    fam_idx = throughput.FAMILIES.index(fam) if fam in throughput.FAMILIES else throughput.FAMILIES.index("k")
    ones = np.ones(n)
    w = r.weights
    # Prefill streams every weight once per ubatch except gathered embeddings; a full MoE ubatch
    # touches nearly every expert (a short one fewer: throughput.expert_rows).
    stream = w.decode_bytes + (w.expert_bytes * (1 - a.n_expert_used / a.n_expert) if a.n_expert else 0.0)
    return throughput.SpeedFeatures(
        w_decode_bytes=w.decode_bytes * ones,
        w_stream_bytes=stream * ones,
        p_active=w.params_matmul_active * ones,
        p_output=float(a.n_embd) * float(a.n_vocab) * ones,
        is_moe=np.full(n, a.is_moe),
        family_idx=np.full(n, fam_idx),
        n_layers=a.n_layer_run * ones,
        n_moe_layers=float(a.ffns.count(FFN_MOE)) * ones,
        n_rec_layers=float(mix.count(MIXER_RECURRENT)) * ones,
        kv_full_bytes_per_cell=kv_full_cell,
        kv_swa_bytes_per_cell=kv_swa_cell,
        swa_cells=np.minimum(swa_cells, per_stream).astype(float),
        state_bytes=lay.recurrent_bytes_per_seq * ones,
        attn_flops_full=flops_full * ones,
        attn_flops_swa=flops_swa * ones,
        n_prompt=np.asarray(q["n_prompt"], dtype=float),
        n_gen=np.asarray(q["n_gen"], dtype=float),
        depth=np.asarray(q["depth"], dtype=float),
        n_ubatch=np.asarray(q["n_ubatch"], dtype=float),
        flash_attn=np.asarray(q["flash_attn"], dtype=bool),
        bw_bytes_s=hw.mem_bandwidth_gbs * 1e9 * ones,
        peak_flops=hw.fp16_tflops * 1e12 * ones,
        gqa=gqa_full * ones,
        gqa_swa=gqa_swa * ones,
        head_width_swa=width_swa * ones,
        **paths,
        # chunked scan per token and layer: state update + readout 4 d_inner d_state, intra-chunk
        # products 4 x chunk (64) x d_inner
        rec_flops=(mix.count(MIXER_RECURRENT) * (4.0 * a.ssm.d_inner * a.ssm.d_state + 256.0 * a.ssm.d_inner)
                   if a.ssm else 0.0) * ones,
        kq_heads_full=float(a.n_head * mix.count(MIXER_FULL)) * ones,
        kq_heads_swa=float(a.n_head * mix.count(MIXER_SWA)) * ones,
        n_shexp_layers=(float(a.ffns.count(FFN_MOE)) if a.n_expert_shared else 0.0) * ones,
        head_width=width_full * ones,
        fa_geometry=np.full(n, depth_curve.geometry_key(*attention_geometry(a)), dtype=object),
        w_expert_decode_bytes=(w.expert_bytes * a.n_expert_used / a.n_expert if a.n_expert else 0.0) * ones,
        w_unplaced_bytes=w.unplaced_bytes * ones,
        p_expert_active=(3.0 * a.n_embd * a.n_ff_exp * a.n_expert_used * a.ffns.count(FFN_MOE) if a.n_expert else 0.0) * ones,
        n_expert_frac=(a.n_expert_used / a.n_expert if a.n_expert else 0.0) * ones,
        w_expert_bytes=(w.expert_bytes if a.n_expert else 0.0) * ones,
        w_active_frac=(w.decode_bytes / w.total_bytes if w.total_bytes else 1.0) * ones,
    )


def _compressed_attention(a: ModelArch, lay: memory.KvLayout, bk, per_layer: float):
    """DeepSeek-V4 attention as the pinned llama.cpp computes it (src/models/deepseek4.cpp), in the
    terms of the speed model: (KV bytes, FLOPs) per token per context cell. Every layer's raw window
    is an ordinary sliding one. A CSA layer scores every compressed entry with the lightning indexer (ggml_lightning_indexer: indexer_n_head x indexer_head_dim per entry), takes the
    top-k, and then runs build_attn_mha over the window and *all* compressed entries under a mask that
    keeps the top-k (build_top_k_mask): scattered picks leave few KV blocks fully masked, so it costs
    dense attention over context / 4 entries. An HCA layer attends all context / 128 entries."""
    c = a.compressed
    full = (lay.n_csa * (lay.comp_k_elems + lay.lid_k_elems) / CSA_RATIO + lay.n_hca * lay.comp_k_elems / HCA_RATIO) * bk
    flops_full = per_layer * (lay.n_csa / CSA_RATIO + lay.n_hca / HCA_RATIO) \
        + 2.0 * c.indexer_n_head * c.indexer_head_dim * lay.n_csa / CSA_RATIO
    return full, flops_full


def memory_breakdown(r: ResolvedModel, q: dict[str, np.ndarray], overhead_gib: float,
                     unified_memory: bool = True) -> memory.MemoryBreakdown:
    a = r.arch
    lay = memory.kv_layout(a, bool(q.get("mla_v_less", False)))
    bk = np.array([KV_TYPE_BYTES[t] for t in q["type_k"]], dtype=float)
    bv = np.array([KV_TYPE_BYTES[t] for t in q["type_v"]], dtype=float)
    kv = memory.kv_cache_bytes(lay, q["context"], bk, bv, q["parallel"], q["n_ubatch"],
                               bool(q.get("kv_unified", False)), bool(q.get("swa_full", False)))
    comp = memory.compute_buffer_bytes(a, q["context"], q["n_ubatch"], q["flash_attn"], q["parallel"], unified_memory)
    n = len(kv)
    over = overhead_gib * GIB + memory.output_buffer_bytes(a, q["parallel"])
    return memory.MemoryBreakdown(
        np.full(n, r.weights.total_bytes, dtype=float), np.asarray(kv, dtype=float),
        np.asarray(comp, dtype=float), np.asarray(over, dtype=float) * np.ones(n),
    )


def _log_sd_from_cov(fn, f, params: dict, names: list[str], cov: np.ndarray) -> np.ndarray:
    """Delta method: sd of log prediction from the covariance of log(params)."""
    def logfn(pp):  # a pp test of 0 tokens has speed 0: keep its (unused) log finite
        return np.log(np.maximum(fn(f, pp), 1e-300))

    base = logfn(params)
    grads = []
    h = 1e-4
    for k in names:
        p2 = dict(params)
        p2[k] = params[k] * np.exp(h)
        grads.append((logfn(p2) - base) / h)
    g = np.vstack(grads)  # (P, N)
    var = np.einsum("pn,pq,qn->n", g, cov, g)
    return np.sqrt(np.maximum(var, 0.0))


def predict_speed(f: throughput.SpeedFeatures, params: dict, sigma_log: dict, names=None, cov=None) -> dict:
    """pp/tg tokens/s with 90 % intervals (residual spread + parameter uncertainty)."""
    out = {}
    for key, fn in (("pp", throughput.pp_tps), ("tg", throughput.tg_tps)):
        val = fn(f, params)
        # sigma per test and depth band where the calibration has one (held-out residuals differ
        # by depth: attention at 32K is less certain than weights at 0), else per test
        sd = np.array([band_sigma(sigma_log, key, depth_band(int(d))) for d in f.depth]) if len(val) else np.zeros(0)
        if cov is not None and names:
            sd = np.sqrt(sd**2 + _log_sd_from_cov(fn, f, params, names, cov) ** 2)
        out[f"{key}_tps"] = val
        out[f"{key}_lo"] = val * np.exp(-Z90 * sd)
        out[f"{key}_hi"] = val * np.exp(Z90 * sd)
    pf = throughput.prefill_time_s(f, params)
    out["ttft_s"] = pf
    with np.errstate(invalid="ignore", divide="ignore"):  # no prompt: no TTFT spread
        out["ttft_lo"] = np.where(out["pp_hi"] > 0, pf * out["pp_tps"] / np.where(out["pp_hi"] > 0, out["pp_hi"], 1), pf)
        out["ttft_hi"] = np.where(out["pp_lo"] > 0, pf * out["pp_tps"] / np.where(out["pp_lo"] > 0, out["pp_lo"], 1), pf)
    return out

