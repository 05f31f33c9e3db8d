"""Prompt-processing and generation speed, as llama-bench reports them, from a roofline.

decode (one token at KV position p):
    t(p) = (W_dense / dq[family] + W_experts / (dq * dqx)[family]
            + kv_eff(fa) * (1 + kv_gqa / gqa) * KV_bytes(p) [x kv_vec where HIP decodes on its vec kernel]
            + state_rw * state) / (bw_eff * BW)
           + attention FLOPs(p) / (attn_dec_eff * peak)
           + n_layers * t_layer + n_moe_layers * t_moe_layer + n_rec_layers * t_rec_layer + t_token
    dq[family] is the mat-vec kernel's bandwidth relative to K-quants (dq_k = 1): e.g. BF16 on a
    Vulkan driver without bf16 support is converted on the fly and reads far slower.
prefill (n_prompt tokens at depth d, in ubatches of u):
    t = 2 * ((P_active - P_output) * n_prompt + P_output * chunks) / (compute_eff[family] * moe_factor * peak)
          [the lm_head runs on a prompt's output rows only: one per ubatch at most]
        + 2 * P_expert * n_prompt * (s(32) / s(tpe) - 1) / (compute_eff * moe_factor * peak)
          [routed-expert GEMMs of tpe rows: min(n_prompt, u) * used over the experts a ubatch touches
           (expert_rows), s(t) = t / (t + h)]
        + chunks * (W_stream - W_experts * untouched share) / (bw_eff * BW)
        + per layer group g (full, sliding): attention FLOPs_g over causal contexts
              / (attn_pp_eff * path_eff(path_g, width_g) * peak)   [x attn_nofa without FA]
        + per layer group g: (n_prompt / q_rows(path_g)) / kv_tile_reuse
              * KV_bytes_g(depth + n_prompt / 2) / (bw_eff * BW)   [FA KV re-reads]
    path_g is the FA kernel llama.cpp runs for that group's head width and GQA on this backend
    (vtt.cost.attention: coopmat1 / scalar on Vulkan, WMMA / tile on HIP); path_eff is
    fa_eff_<path> (1 on the backend's reference path) x fa_hw2 ^ log2(width / 128).
        + n_prompt * recurrent scan FLOPs / (rec_pp_eff * peak) + chunks * t_ubatch
        + [older HIP builds, hipBLASLt off] 2 * P_dense * n_prompt * (1 / ce_tensile - 1)
              / (compute_eff * moe_factor * peak)   [vtt.cost.gemm; not known whether it was off:
              the geometric mean of the times with and without it]
Every term is named so a prediction can be explained; parameters are calibrated per
hardware x backend (vtt.calibrate). Everything is numpy-vectorised over queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Parameters and their physics defaults (used when no calibration exists). Positive reals.
PARAM_DEFAULTS: dict[str, float] = {
    "bw_eff": 0.75,  # share of peak memory bandwidth decode reaches on weights
    "kv_eff": 1.0,  # KV bytes cost this many weight-bytes each (flash attention on)
    "kv_nofa": 2.0,  # ... times this without flash attention
    "attn_dec_eff": 0.05,  # share of FP16 peak for decode attention math
    "t_layer_us": 20.0,  # fixed cost per layer per decoded token (launches, syncs)
    "t_moe_layer_us": 20.0,  # extra per MoE layer per token: router, top-k, expert-id matmuls
    "t_rec_layer_us": 20.0,
    # A shared expert is a dense FFN beside the routed ones: its gate/up/down mat-vecs, activation
    # and sigmoid gate are dispatches of their own, about half of a transformer layer's (attention
    # + FFN): t_layer x shexp_layer_share per layer that has one.
    "shexp_layer_share": 0.5,  # extra per recurrent (SSM / gated-DeltaNet) layer per token: conv, gates, scan
    "dq_f16": 1.0,  # decode mat-vec bandwidth per weight family, relative to K-quants
    "dq_bf16": 1.0,
    "dq_q8": 1.0,
    "dq_legacy": 1.0,
    "dq_iq": 1.0,
    "dq_mxfp4": 1.0,
    "t_token_us": 300.0,  # fixed cost per decoded token
    # Of a file's bytes beyond its quant recipe (UD-* files), the share on always-read tensors
    # beyond what a proportional spread puts there: 0 = spread like the recipe, 1 = all read per
    # token. Dynamic quants upcast attention, shared experts and output first.
    "unplaced_read": 0.3,
    # Routed-expert mat-vec (MUL_MAT_ID at batch 1) bandwidth relative to the dense mat-vec of the
    # same family. 1 where both use the same dequantising kernel; BF16 on a driver without bf16
    # math (RADV/AMDVLK report bf16: 0) has no fast id-mat-vec path, so BF16 MoE decode reads far
    # below bandwidth while dense BF16 decode does not.
    "dqx_bf16": 1.0,
    # Passes over the recurrent (SSM / DeltaNet) state per decoded token: 2 = one read + one
    # write (a fused scan kernel); an unfused delta-rule graph touches the state ~8 times.
    "state_rw": 2.0,
    # Decode attention reads each KV head once for the gqa = n_head / n_head_kv query heads that
    # share it; with few heads per KV head (MHA: 1) the FA-vec kernel has less reuse per byte and
    # reaches less bandwidth: KV cost x (1 + kv_gqa / gqa).
    "kv_gqa": 0.1,
    # HIP decodes MHA (GQA 1) on the vec kernel, every GQA >= 2 model on the tile / WMMA kernel with
    # the query heads of a KV head packed into one tile (vtt.cost.attention.decode_vec, fattn.cu
    # l.699-719): two different kernels stream the same KV bytes. KV bytes on the vec kernel cost
    # kv_vec x what they cost on the tile kernel. Fitted only where rows decode on both at depth
    # (ROCm: MHA llama-2-7b beside the GQA / hybrid models: 1.5-1.9); nothing in the source fixes the
    # ratio (the vec kernel is latency-bound, compiler-dependent: llama-2-7b at 32K decodes 5.6 t/s
    # on ROCm 7.2 and 6.9 on 6.4.4 at one build), so its default is 1 (no difference) and a query
    # that needs it unfitted is flagged and widened by its spread (vtt.cost.coverage).
    "kv_vec": 1.0,
    "ce_f16": 0.35,  # share of FP16 peak reached by prefill matmuls, per weight family
    "ce_bf16": 0.35,
    "ce_q8": 0.30,
    "ce_k": 0.25,
    "ce_legacy": 0.28,
    "ce_iq": 0.2,
    "ce_mxfp4": 0.25,
    "moe_pp": 0.5,  # MoE prefill efficiency relative to dense (small per-expert GEMMs)
    # A routed expert's GEMM in a prefill ubatch has only tokens_per_expert = min(prompt, ubatch)
    # x n_used / n_expert rows (Qwen3.5 at -ub 512: 16; Qwen3-30B: 32; gpt-oss: 64). Below a
    # GEMM tile's height (32-128 token rows) the tile is partly empty and each weight load feeds
    # fewer rows: the routed experts' share of the matmul FLOPs runs at s(tpe) / s(32) of the rate
    # moe_pp gives, s(t) = t / (t + moe_tpe_half); attention and shared experts see the whole
    # ubatch. h ~ half a tile; tile shapes differ by backend (AMDVLK: 32 KB shared memory).
    "moe_tpe_half": 16.0,
    "attn_pp_eff": 0.15,  # share of FP16 peak for prefill attention on the backend's reference FA path
    "attn_nofa": 0.6,  # ... relative efficiency without flash attention
    # Flash-attention prefill streams the KV once per query tile (vtt.cost.attention.Q_ROWS: the Q
    # rows a workgroup holds on that kernel path): n_prompt / rows passes over the attended KV, of
    # which DRAM sees 1 / kv_tile_reuse (concurrent tiles hit in L2). Per KV head a kernel reads
    # n x gqa / rows tiles, but the gqa query heads sharing a head run side by side: scaled by gqa the
    # term was not better held out (RADV pp 10.4 -> 11.4, AMDVLK 16.7 -> 15.2, ROCm 14.9 both), so
    # the data do not identify it and it is left out. A memory term: it follows KV heads.
    "kv_tile_reuse": 4.0,
    "kq_nofa_bytes": 16.0,
    # FA kernel paths other than the backend's reference one (vtt.cost.attention), relative rate:
    # Vulkan's scalar shader (no cooperative matrices: AMDVLK at head width >= 512) and HIP's tile
    # kernel (no WMMA: MHA, MLA 576, Gemma 4 global 512). 0.5: about half the matrix-core rate;
    # fitted only where rows run that path, so it stays a prior elsewhere (and says so).
    "fa_eff_scalar": 0.5,
    "fa_eff_tile": 0.5,
    # HIP's decode (vec) kernel run on a prompt (2025 AMD builds without rocWMMA, vtt.cost.attention):
    # FP16 dot products on the vector ALUs, at most half the WMMA rate, and a kernel laid out for one
    # query row; known to within ~e^2 (vtt.calibrate.fit.PRIOR_SD_BY_PREFIX)
    "fa_eff_vec": 0.1,
    # Rate change per doubling of head width within a path (reference path; fallback path):
    # wider heads do more FLOPs per K/V load but hold fewer Q rows per register file. Fitted only
    # where prefill rows on the reference path span more than 4x in width (vtt.calibrate.fit.
    # fa_path_params; quick calibrations: vtt.calibrate.quick.width_law_params): the public Strix
    # Halo rows span 64-256, and fitted there it made held-out ROCm pp worse (14.9 -> 17.6 %); the
    # H100 matrix spans 64-576 (MLA) and fits 0.68 per doubling, the H200 operators 0.76. Elsewhere
    # a prior whose spread widens the interval of an unmeasured width (vtt.cost.coverage).
    "fa_hw2": 1.0,
    "fa_hw2_fb": 1.0,
    "t_ubatch_ms": 2.0,  # fixed cost per prefill ubatch
    # Dense prefill GEMMs on rocBLAS's Tensile kernels relative to hipBLASLt's (vtt.cost.gemm): rows
    # where they ran both ways fit it (2025 HIP builds on gfx1151); 1 = no difference, elsewhere.
    "ce_tensile": 1.0,
    # Prefill of recurrent layers (chunked SSM / delta-rule scan: state update 4 d_inner d_state
    # plus the intra-chunk C x C products per token): many small ops, far below matmul peak.
    "rec_pp_eff": 0.02,
}
MOE_TPE_REF = 32.0  # rows per expert GEMM at which moe_pp is the MoE prefill efficiency
FAMILIES = ("f16", "bf16", "q8", "k", "legacy", "iq", "mxfp4")


@dataclass
class SpeedFeatures:
    """Everything the speed formulas need, one entry per query (numpy arrays)."""

    w_decode_bytes: np.ndarray  # weights read per decoded token
    w_stream_bytes: np.ndarray  # weights read per prefill ubatch
    p_active: np.ndarray  # matmul params per token
    is_moe: np.ndarray  # bool
    family_idx: np.ndarray  # index into FAMILIES
    n_layers: np.ndarray
    n_moe_layers: np.ndarray  # layers whose FFN is routed experts
    n_rec_layers: np.ndarray  # recurrent (SSM / linear-attention) layers
    kv_full_bytes_per_cell: np.ndarray  # K+V bytes per cell over full-attention layers
    kv_swa_bytes_per_cell: np.ndarray
    swa_cells: np.ndarray  # cells a SWA layer attends at most
    state_bytes: np.ndarray  # recurrent state read+written per token
    attn_flops_full: np.ndarray  # FLOPs per (token x attended cell), full layers: 2*n_head*(dk+dv)*n_layers
    attn_flops_swa: np.ndarray
    n_prompt: np.ndarray
    n_gen: np.ndarray
    depth: np.ndarray
    n_ubatch: np.ndarray
    flash_attn: np.ndarray  # bool
    bw_bytes_s: np.ndarray  # peak bandwidth, bytes/s
    peak_flops: np.ndarray  # FP16 peak, FLOP/s
    w_expert_decode_bytes: np.ndarray | None = None  # routed-expert part of w_decode_bytes (None: 0)
    w_unplaced_bytes: np.ndarray | None = None  # file bytes beyond the quant recipe (WeightProfile)
    w_active_frac: np.ndarray | None = None  # share of the recipe's bytes a token reads
    gqa: np.ndarray | None = None  # query heads per KV head of the attention layers (None: 8)
    rec_flops: np.ndarray | None = None  # recurrent-layer scan FLOPs per prompt token, all layers (None: 0)
    # attention score elements per (query token x attended cell), summed over layers: n_head x layers
    kq_heads_full: np.ndarray | None = None
    kq_heads_swa: np.ndarray | None = None
    n_shexp_layers: np.ndarray | None = None  # MoE layers with a shared expert (None: 0)
    head_width: np.ndarray | None = None  # widest K or V head of the full layers' FA kernel (MLA: 576)
    head_width_swa: np.ndarray | None = None  # same for the sliding layers (Gemma 4: 256; None: head_width)
    gqa_swa: np.ndarray | None = None  # query heads per KV head of the sliding layers (None: gqa)
    fa_path_full: np.ndarray | None = None  # vtt.cost.attention.PATHS index of the full layers' FA kernel
    fa_path_swa: np.ndarray | None = None
    fa_ref: np.ndarray | None = None  # PATHS index of the backend's reference path (None: unknown backend)
    n_expert_frac: np.ndarray | None = None  # n_expert_used / n_expert of MoE models (None or 0: dense)
    p_expert_active: np.ndarray | None = None  # routed-expert matmul params per token (part of p_active)
    w_expert_bytes: np.ndarray | None = None  # all routed experts' bytes (part of w_stream_bytes; None: 0)
    dec_vec_full: np.ndarray | None = None  # 1 where decode attention of the full layers runs HIP's vec kernel
    dec_vec_swa: np.ndarray | None = None  # same for the sliding layers (vtt.cost.attention.decode_vec)
    # KV cells per query a sliding layer's FA kernel computes and reads (None: swa_cells, the whole
    # SWA view): vtt.cost.attention.swa_fa_cells (Vulkan skips masked blocks: the window + one block)
    swa_fa_cells: np.ndarray | None = None
    # output (lm_head) matmul params, part of p_active: a prompt computes logits for its last token
    # only (None: every prompt token pays them, as before)
    p_output: np.ndarray | None = None
    # share of a prompt's dense (non-routed) matmuls on rocBLAS's Tensile kernels: 1 on HIP / RDNA3
    # before llama.cpp's WMMA-MMQ switch without ROCBLAS_USE_HIPBLASLT, 0.5 when that is not known,
    # else 0 (vtt.cost.gemm; None: 0)
    tensile: np.ndarray | None = None
    # FLASH_ATTN_EXT geometry of the full layers, 'd_k/d_v/n_head/n_head_kv' (vtt.cost.depth_curve.geometry_key)
    fa_geometry: np.ndarray | None = None
    # the full layers' prefill attention time over its linear charge, from this machine's measured
    # depth curve of that geometry (vtt.cost.depth_curve.attach; None: 1, the linear charge)
    attn_depth: np.ndarray | None = None

    def __len__(self):
        return len(self.n_prompt)


def _p(params: dict[str, float], k: str) -> float:
    return float(params.get(k, PARAM_DEFAULTS[k]))


def _kq_bytes(f: SpeedFeatures, params: dict, cells_full, cells_swa) -> np.ndarray:
    """Bytes of the materialised attention scores (no flash attention) over `cells` per query."""
    if f.kq_heads_full is None:
        return np.zeros(len(f))
    return _p(params, "kq_nofa_bytes") * (f.kq_heads_full * cells_full + f.kq_heads_swa * cells_swa)


def _swa_fa(f: SpeedFeatures) -> np.ndarray:
    """Cells per query a sliding layer's flash attention computes (vtt.cost.attention.swa_fa_cells)."""
    return f.swa_cells if f.swa_fa_cells is None else f.swa_fa_cells


def _fa_groups(f: SpeedFeatures, params: dict):
    """Per layer group (full, sliding): (path efficiency, Q rows per tile, gqa). Without a backend
    (fa_ref None) every group runs the reference path."""
    from vtt.cost import attention

    n = len(f)
    ref = f.fa_ref if f.fa_ref is not None else np.zeros(n, dtype=int)
    out = []
    for path, width, gqa in ((f.fa_path_full, f.head_width, f.gqa), (f.fa_path_swa, f.head_width_swa, f.gqa_swa)):
        path = ref if path is None else path
        width = (f.head_width if width is None else width)
        width = np.full(n, 128.0) if width is None else width
        g = (f.gqa if gqa is None else gqa)
        g = np.full(n, 8.0) if g is None else g
        eff = attention.path_eff(params, PARAM_DEFAULTS, path, ref, width)
        rows = attention.q_rows(path) if f.fa_ref is not None else np.full(n, 16.0)
        out.append((eff, rows, g))
    return out


def decode_terms(f: SpeedFeatures, params: dict, pos) -> dict[str, np.ndarray]:
    """Seconds to decode one token with `pos` cells already in the cache, by named term (they sum to
    decode_time_s): what `vtt plan --explain` shows."""
    pos = np.asarray(pos, dtype=float)
    fa = f.flash_attn
    swa = np.minimum(pos, f.swa_cells)
    vec = _p(params, "kv_vec") - 1.0  # extra cost of KV bytes read by HIP's vec decode kernel (flash attention on)
    vec_full = np.where(fa, vec * f.dec_vec_full, 0.0) if f.dec_vec_full is not None else 0.0
    vec_swa = np.where(fa, vec * f.dec_vec_swa, 0.0) if f.dec_vec_swa is not None else 0.0
    # with FA a kernel that skips fully masked KV blocks reads only the window's (swa_fa_cells)
    swa_read = np.where(fa, np.minimum(pos, _swa_fa(f)), swa)
    kv_bytes = f.kv_full_bytes_per_cell * pos * (1.0 + vec_full) + f.kv_swa_bytes_per_cell * swa_read * (1.0 + vec_swa)
    gqa = f.gqa if f.gqa is not None else 8.0
    kv_w = _p(params, "kv_eff") * np.where(fa, 1.0, _p(params, "kv_nofa")) * (1.0 + _p(params, "kv_gqa") / gqa)
    dq = np.array([_p(params, f"dq_{fam}") if fam != "k" else 1.0 for fam in FAMILIES])[f.family_idx]
    w_exp = f.w_expert_decode_bytes if f.w_expert_decode_bytes is not None else 0.0
    dqx = np.array([_p(params, f"dqx_{fam}") if f"dqx_{fam}" in PARAM_DEFAULTS else 1.0 for fam in FAMILIES])[f.family_idx]
    w_bytes = (f.w_decode_bytes - w_exp) / dq + w_exp / (dq * dqx)
    if f.w_unplaced_bytes is not None:  # read like the rest, plus a share kept for always-read tensors
        u = _p(params, "unplaced_read")
        w_bytes = w_bytes + f.w_unplaced_bytes * (f.w_active_frac + u * (1 - f.w_active_frac)) / dq
    bw = _p(params, "bw_eff") * f.bw_bytes_s
    attn = f.attn_flops_full * pos + f.attn_flops_swa * swa_read
    t_layers = (f.n_layers * _p(params, "t_layer_us") + f.n_moe_layers * _p(params, "t_moe_layer_us")
                + f.n_rec_layers * _p(params, "t_rec_layer_us")
                + (0.0 if f.n_shexp_layers is None else f.n_shexp_layers) * _p(params, "shexp_layer_share")
                * _p(params, "t_layer_us")) * 1e-6
    return {
        "weights": w_bytes / bw,
        "kv_cache": kv_w * kv_bytes / bw,
        "recurrent_state": _p(params, "state_rw") * f.state_bytes / bw,
        "attention_math": attn / (_p(params, "attn_dec_eff") * f.peak_flops),
        "kq_scores": np.where(fa, 0.0, _kq_bytes(f, params, pos, swa)) / bw,  # without flash attention
        "layer_dispatch": t_layers,  # fixed per layer: launches, syncs, small ops
        "token_fixed": _p(params, "t_token_us") * 1e-6 + 0.0 * pos,
    }


def decode_time_s(f: SpeedFeatures, params: dict, pos) -> np.ndarray:
    """Seconds to decode one token with `pos` cells already in the cache."""
    return sum(decode_terms(f, params, pos).values())


def tg_tps(f: SpeedFeatures, params: dict) -> np.ndarray:
    """Generation tokens/s for `-n n_gen -d depth`: the mean over the generated positions."""
    n = np.maximum(f.n_gen, 1).astype(float)
    # t(p) is linear in p except where the SWA cap bends it: midpoint rule is exact for the
    # linear part and close for the rest.
    t_mid = decode_time_s(f, params, f.depth + (n - 1) / 2)
    return 1.0 / t_mid


def expert_rows(tokens, frac):
    """(share of the routed experts a ubatch of `tokens` touches, rows per touched expert's GEMM), for
    `frac` = used / total experts. With the router's choices spread evenly, an expert is missed by
    every token with probability (1 - frac)^tokens; the touched experts share tokens x used rows. A
    one-token ubatch touches `used` experts at one row each (a decode step), a 512-token ubatch of
    Qwen3-30B-A3B (8 of 128) every expert at 32 rows. Skewed routing touches fewer: an upper bound."""
    t = np.asarray(tokens, dtype=float)
    fr = np.asarray(frac, dtype=float)
    touched = np.where(fr > 0, 1.0 - (1.0 - np.clip(fr, 0.0, 1.0)) ** t, 1.0)
    rows = np.where(touched > 0, t * fr / np.where(touched > 0, touched, 1.0), 0.0)
    return touched, rows


def prefill_terms(f: SpeedFeatures, params: dict) -> dict[str, np.ndarray]:
    """Seconds of a prompt by named term (they sum to prefill_time_s): what `vtt plan --explain` shows."""
    n = f.n_prompt.astype(float)
    chunks = np.ceil(n / np.maximum(f.n_ubatch, 1))
    ce = np.array([_p(params, f"ce_{fam}") for fam in FAMILIES])[f.family_idx]
    # The output projection runs on the rows that return logits. llama-bench's prompt test decodes
    # common_batch_get_one batches (common.cpp: output = i == n_tokens - 1), llama-server asks for a
    # prompt's last token, and every model graph keeps only the output rows before its last layer's
    # FFN and the lm_head (build_inp_out_ids, llama-graph.cpp; ggml_get_rows(cur, inp_out_ids) in
    # src/models/*.cpp): a ubatch without an output computes no logits. Charged once per ubatch (an
    # upper bound). Charged per token before, it overstated prefill by the lm_head's share of the
    # active params: 2 % for Llama 2 7B, 9 % Qwen3-30B-A3B, 16-17 % gpt-oss-20b, Qwen3.6-35B-A3B and
    # Gemma 3 4B (large vocabularies on few active params), which per-family ce / moe_pp absorbed.
    p_tok = f.p_active if f.p_output is None else np.maximum(f.p_active - f.p_output, 0.0)
    ce = ce * np.where(f.is_moe, _p(params, "moe_pp"), 1.0)
    t_mm = 2.0 * (p_tok * n + (0.0 if f.p_output is None else f.p_output * chunks)) / (ce * f.peak_flops)
    ub_tokens = np.minimum(n, np.maximum(f.n_ubatch, 1))
    touched = 1.0
    if f.n_expert_frac is not None:
        touched, tpe = expert_rows(ub_tokens, f.n_expert_frac)
    if f.n_expert_frac is not None and f.p_expert_active is not None:
        # rows per touched routed expert's GEMM (expert_rows). Only the routed experts' share of the
        # matmul params runs at it; attention and shared experts see the ubatch.
        h = _p(params, "moe_tpe_half")
        rel = np.where(f.is_moe & (tpe > 0), (tpe / np.maximum(tpe + h, 1e-9)) / (MOE_TPE_REF / (MOE_TPE_REF + h)), 1.0)
        t_small = 2.0 * f.p_expert_active * n * (1.0 / rel - 1.0) / (ce * f.peak_flops)
    else:
        t_small = 0.0 * n
    t_tensile = 0.0
    if f.tensile is not None:  # dense matmuls (not the routed experts, not the lm_head) on Tensile
        p_dense = np.maximum(p_tok - (f.p_expert_active if f.p_expert_active is not None else 0.0), 0.0)
        t_tensile = np.where(f.tensile > 0, 2.0 * p_dense * n * (1.0 / _p(params, "ce_tensile") - 1.0) / (ce * f.peak_flops), 0.0)
    stream = f.w_stream_bytes + (f.w_unplaced_bytes if f.w_unplaced_bytes is not None else 0.0)
    if f.w_expert_bytes is not None:  # a short ubatch streams only the experts its tokens route to
        stream = stream - f.w_expert_bytes * (1.0 - touched)
    t_stream = chunks * stream / (_p(params, "bw_eff") * f.bw_bytes_s)
    # causal attention: token i of the prompt attends depth + i cells (SWA: at most the window)
    d = f.depth.astype(float)
    ctx_sum_full = n * d + n * (n - 1) / 2
    ctx_sum_swa = n * np.minimum(d + (n - 1) / 2, f.swa_cells)
    # with FA, a sliding layer computes the cells its kernel does not skip (swa_fa_cells)
    ctx_sum_swa_fa = n * np.minimum(d + (n - 1) / 2, _swa_fa(f))
    (eff_full, rows_full, gqa_full), (eff_swa, rows_swa, gqa_swa) = _fa_groups(f, params)
    a_eff = _p(params, "attn_pp_eff")
    nofa = _p(params, "attn_nofa")
    # a measured depth curve (flash attention only: it is that kernel's) scales the full layers' kernel time
    deep = np.where(f.flash_attn, f.attn_depth, 1.0) if f.attn_depth is not None else 1.0
    t_attn = (f.attn_flops_full * ctx_sum_full * deep / np.where(f.flash_attn, eff_full, nofa)
              + f.attn_flops_swa * np.where(f.flash_attn, ctx_sum_swa_fa / eff_swa, ctx_sum_swa / nofa)) / (a_eff * f.peak_flops)
    t_kq = np.where(f.flash_attn, 0.0, _kq_bytes(f, params, ctx_sum_full, ctx_sum_swa)) / (_p(params, "bw_eff") * f.bw_bytes_s)
    # FA re-reads the cache once per query tile: n / q_tile passes over the mean attended KV.
    ctx_mid = d + n / 2
    kv_reads = (f.kv_full_bytes_per_cell * ctx_mid / rows_full * deep
                + f.kv_swa_bytes_per_cell * np.minimum(ctx_mid, _swa_fa(f)) / rows_swa)
    t_kv = n * kv_reads / _p(params, "kv_tile_reuse") / (_p(params, "bw_eff") * f.bw_bytes_s)
    t_rec = n * (f.rec_flops if f.rec_flops is not None else 0.0) / (_p(params, "rec_pp_eff") * f.peak_flops)
    terms = {
        "matmul": t_mm,  # the weights' GEMMs at the weight family's (and MoE's) rate
        "moe_small_gemms": t_small,  # routed experts' partly empty GEMM tiles (few rows per expert)
        "weight_stream": t_stream,  # every ubatch streams the weights it multiplies
        "attention": t_attn,
        "kv_rereads": t_kv,  # flash attention re-reads the cache once per query tile
        "kq_scores": t_kq,  # without flash attention: the materialised scores
        "recurrent": t_rec,  # SSM / delta-rule scans
        "ubatch_fixed": chunks * _p(params, "t_ubatch_ms") * 1e-3,
    }
    if f.tensile is not None:
        # a share s between 0 and 1 (hipBLASLt not known, vtt.cost.gemm): halfway in log space between the
        # answers without and with the Tensile GEMMs, t^(1-s) x (t + t_tensile)^s
        t = sum(terms.values())
        with np.errstate(divide="ignore", invalid="ignore"):
            blend = np.where(t > 0, t * ((t + t_tensile) / np.where(t > 0, t, 1.0)) ** f.tensile, t)
        terms["rocblas_tensile"] = blend - t  # dense GEMMs on rocBLAS's own kernels (older HIP builds)
    return terms


def prefill_time_s(f: SpeedFeatures, params: dict) -> np.ndarray:
    return sum(prefill_terms(f, params).values())


def pp_tps(f: SpeedFeatures, params: dict) -> np.ndarray:
    """Prompt tokens/s for `-p n_prompt -d depth` (0 where n_prompt is 0: no prompt test)."""
    t = prefill_time_s(f, params)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(f.n_prompt > 0, f.n_prompt / np.where(t > 0, t, 1.0), 0.0)
