"""Memory of one llama.cpp context: KV cache as llama.cpp allocates it, compute buffers, overhead.

KV rules (src/llama-context.cpp, llama-kv-cache.cpp, llama-kv-cache-iswa.cpp,
llama-memory-recurrent.cpp; summarised in validation/data/reference/kv_cache_and_runtime.md):
n_ctx is padded to 256; -np splits it into streams unless the cache is unified; SWA layers
hold min(n_ctx_seq, window x streams + n_ubatch) cells padded to 256; recurrent layers hold a
fixed F32 state per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vtt.specs.model_arch import CSA_RATIO, HCA_RATIO, MIXER_FULL, MIXER_RECURRENT, MIXER_SWA, ModelArch
from vtt.specs.runtime import KV_TYPE_BYTES


def pad(x, n: int):
    return ((np.asarray(x, dtype=np.int64) + n - 1) // n) * n


@dataclass(frozen=True)
class KvLayout:
    """Per-cell and fixed sizes of a model's caches, independent of the context length."""

    full_k_elems: int  # K elements per cell, summed over full-attention layers
    full_v_elems: int
    swa_k_elems: int  # the same over sliding-window layers
    swa_v_elems: int
    n_full: int
    n_swa: int
    n_recurrent: int
    recurrent_bytes_per_seq: int  # F32 conv + SSM state over all recurrent layers
    swa_window: int
    # DeepSeek-V4 compressed attention (ModelArch.compressed): its layers, K elements per compressed
    # entry (CSA and HCA caches) and per lightning-indexer key, and the F32 compressor states per sequence
    n_csa: int = 0
    n_hca: int = 0
    comp_k_elems: int = 0
    lid_k_elems: int = 0
    comp_state_bytes_per_seq: int = 0


def kv_layout(a: ModelArch, mla_v_less: bool = False) -> KvLayout:
    """`mla_v_less`: llama.cpp since PR #19067 (2026-01-24) caches only K for MLA models (the
    latent + rope; V is a view of it), halving their cache. Older builds also stored V."""
    k_cell = a.n_head_kv * a.head_dim_k
    # MLA since PR #19067, and every cache of DeepSeek-V4 (dsv4_make_k_only): K only
    v_cell = 0 if (mla_v_less and a.mla) or a.compressed else a.n_head_kv * a.head_dim_v
    mixers = a.mixers
    n_full = mixers.count(MIXER_FULL)
    n_swa = mixers.count(MIXER_SWA)
    n_rec = mixers.count(MIXER_RECURRENT)
    rec = 0
    if n_rec:
        s = a.ssm
        n_embd_r = (s.d_conv - 1) * (s.d_inner + 2 * s.n_group * s.d_state)
        n_embd_s = s.d_state * s.d_inner
        rec = n_rec * (n_embd_r + n_embd_s) * 4
    comp = {}
    if a.compressed:
        c = a.compressed
        n_csa, n_hca = c.ratios.count(CSA_RATIO), c.ratios.count(HCA_RATIO)
        # llama_dsv4_comp_state: per layer a kv and a score tensor, F32, n_embd_state x state_size per
        # stream: CSA 2 hd x 2*4, HCA hd x 128, indexer 2 indexer_hd x 2*4 (llama_kv_cache_dsv4's constructor)
        state = 2 * 4 * (n_csa * (2 * a.head_dim_k * 2 * CSA_RATIO + 2 * c.indexer_head_dim * 2 * CSA_RATIO)
                         + n_hca * a.head_dim_k * HCA_RATIO)
        comp = dict(n_csa=n_csa, n_hca=n_hca, comp_k_elems=k_cell, lid_k_elems=c.indexer_head_dim,
                    comp_state_bytes_per_seq=state)
    return KvLayout(k_cell * n_full, v_cell * n_full, k_cell * n_swa, v_cell * n_swa, n_full, n_swa, n_rec, rec,
                    a.swa_window, **comp)


def kv_cells(n_ctx, parallel, n_ubatch, kv_unified, swa_full, swa_window, stream_per_seq=False):
    """(full cells, swa cells) in total over all streams, as llama.cpp sizes them. `stream_per_seq`:
    a cache that keeps one stream per sequence whatever --kv-unified says (DeepSeek-V4's), while the
    context per sequence still follows it."""
    n_ctx = pad(n_ctx, 256)
    parallel = np.asarray(parallel, dtype=np.int64)
    unified = np.asarray(kv_unified, dtype=bool)
    n_ctx_seq = np.where(unified, n_ctx, pad(n_ctx // parallel, 256))
    if stream_per_seq:
        unified = np.zeros_like(unified)
    n_stream = np.where(unified, 1, parallel)
    full = n_ctx_seq * n_stream
    ub = np.minimum(np.asarray(n_ubatch, dtype=np.int64), n_ctx)
    swa_seq = pad(np.minimum(n_ctx_seq, swa_window * np.where(unified, parallel, 1) + ub), 256)
    swa_seq = np.where(np.asarray(swa_full, dtype=bool), n_ctx_seq, swa_seq)
    return full, swa_seq * n_stream


def kv_cache_bytes(lay: KvLayout, n_ctx, type_k, type_v, parallel=1, n_ubatch=512, kv_unified=False, swa_full=False):
    """Bytes of llama.cpp's KV cache plus recurrent state. Array-friendly in every numeric argument.

    type_k/type_v: a KV cache type name, or an array of bytes-per-element.
    """
    bk = _kv_bytes(type_k)
    bv = _kv_bytes(type_v)
    if lay.n_csa or lay.n_hca:
        return _compressed_kv_bytes(lay, n_ctx, bk, parallel, n_ubatch, kv_unified, swa_full)
    full, swa = kv_cells(n_ctx, parallel, n_ubatch, kv_unified, swa_full, lay.swa_window)
    attn = full * (lay.full_k_elems * bk + lay.full_v_elems * bv) + swa * (lay.swa_k_elems * bk + lay.swa_v_elems * bv)
    rec = lay.recurrent_bytes_per_seq * np.maximum(1, np.asarray(parallel))
    return attn + rec


def _compressed_kv_bytes(lay: KvLayout, n_ctx, bk, parallel, n_ubatch, kv_unified, swa_full):
    """llama_kv_cache_dsv4 (src/llama-kv-cache-dsv4.cpp): a raw sliding-window cache of K in every
    layer (llama_kv_cache_iswa, one stream per sequence even with --kv-unified), and per sequence a CSA
    cache of pad(ceil(n_ctx_seq / 4), 256) compressed K entries, a lightning-indexer cache of as many
    keys (CSA layers), an HCA cache of pad(ceil(n_ctx_seq / 128), 256) entries, all of type_k, plus
    the F32 compressor states."""
    parallel = np.maximum(np.asarray(parallel, dtype=np.int64), 1)
    full, raw = kv_cells(n_ctx, parallel, n_ubatch, kv_unified, swa_full, lay.swa_window, stream_per_seq=True)
    n_ctx_seq = full // parallel
    comp = (compressed_cells(n_ctx_seq, CSA_RATIO) * lay.n_csa * (lay.comp_k_elems + lay.lid_k_elems)
            + compressed_cells(n_ctx_seq, HCA_RATIO) * lay.n_hca * lay.comp_k_elems)
    return (raw * lay.swa_k_elems + parallel * comp) * bk + parallel * lay.comp_state_bytes_per_seq


def compressed_cells(n_ctx_seq, ratio: int):
    """Entries of a DeepSeek-V4 compressed cache: GGML_PAD(dsv4_comp_size(kv_size, ratio), 256)."""
    return pad(-(-np.asarray(n_ctx_seq, dtype=np.int64) // ratio), 256)


def _kv_bytes(t):
    if isinstance(t, str):
        return KV_TYPE_BYTES[t]
    return np.asarray(t, dtype=float)


def kq_mask_cells(mixers: str, swa_window: int, ctx, ub):
    """(n_kv of a full-attention mask, n_kv of a sliding one, the cells of every KQ mask the layers
    `mixers` read): full layers see the padded context, sliding ones at most pad(ubatch + window, 256)."""
    n_kv = pad(ctx, 256).astype(float)
    n_kv_swa = np.minimum(n_kv, pad(np.asarray(ub).astype(np.int64) + swa_window, 256))
    return n_kv, n_kv_swa, n_kv * (MIXER_FULL in mixers) + n_kv_swa * (MIXER_SWA in mixers)


def layer_live_floats(a: ModelArch) -> int:
    """F32 values per token of the ubatch that one layer keeps live at its peak, the largest of three
    stages of llama.cpp's graph (the allocator reuses freed tensors, so the peak is one stage's tensors
    plus what the allocator could not fit into the holes freed before it):
    * a dense FFN: 3 n_embd (residual, normed input, output) + gate, up and their product (3 n_ff);
    * the routed experts (llama-graph.cpp build_moe_ffn): 3 n_embd + up, gate and their product for
      every expert used (3 x n_used x n_ff_exp). The experts' outputs (n_embd x n_used) then reuse the
      freed up and gate (2 x n_used x n_ff_exp) when they fit there; when n_embd > 2 n_ff_exp they do
      not and stack on top. The shared experts run after the routed ones, in the freed space;
    * MLA's absorbed query path (models/deepseek2.cpp): 2 n_embd + q (n_head x (nope + rope)), q_nope
      absorbed into the latent (n_head x kv_lora_rank), the roped q_pe (n_head x rope) and their concat
      (n_head x (kv_lora_rank + rope)), all live at the concat.
    Measured with the pinned llama.cpp's own allocator through a CPU rpc-server, real widths and
    2 layers (validation/rpc/compute_layer_stage.py): Qwen3-30B-A3B, Qwen3-235B, Qwen3-Coder-480B,
    GLM-4.5-Air, gpt-oss-20b, GLM-4.7-Flash, DeepSeek-V3 within 8 %."""
    e = a.n_embd
    dense = 3 * e + 3 * (a.n_ff or 0)
    moe = 0
    if a.n_expert:
        uf, ue = a.n_expert_used * a.n_ff_exp, a.n_expert_used * e
        moe = 3 * e + 3 * uf + (ue if ue > 2 * uf else 0)
    mla = 0
    if a.mla is not None:
        m, h = a.mla, a.n_head
        mla = 2 * e + h * (m.qk_nope_head_dim + m.qk_rope_head_dim) + h * m.kv_lora_rank \
            + h * m.qk_rope_head_dim + h * (m.kv_lora_rank + m.qk_rope_head_dim)
    # DeepSeek-V4's hyper-connections carry hc_mult copies of the residual stream through every layer
    # (load_arch_hparams: n_embd_out = hc_mult x n_embd): the stream, its mix and the layer's output
    hc = 3 * a.compressed.hc_mult * e if a.compressed else 0
    return max(dense, moe, mla) + hc


def compute_buffer_bytes(a: ModelArch, n_ctx, n_ubatch, flash_attn, parallel=1, unified_memory=True):
    """The scheduler's compute buffers for the worst-case graph (a full ubatch at full context).

    llama.cpp measures a reserve graph rather than using a formula; its allocator reuses memory, so
    the device buffer is set by the stage of the graph with the most live tensors, per token of the
    ubatch:
    * the output: the ubatch's logits plus the residual stream, n_vocab + 2 n_embd F32;
    * a layer with flash attention: one layer's live tensors (layer_live_floats: the FFN's, the
      routed experts' or MLA's query path), beside the device's copy of each KQ mask
      its layers read (n_kv cells, F16), alive from the first layer to the last;
    * a layer without flash attention: its materialised KQ scores (n_head x n_kv F32) plus 2 n_embd.
    The host buffer holds the inputs and the KQ masks (n_ubatch x n_kv x 2 B). Checked against
    llama.cpp's own `sched_reserve: ... compute buffer size` lines on a real GPU (validation/gpu/
    REPORT.md: the output stage, vocabularies of 128-262K) and in llama-server's log (validation/
    serve: a 1B model with a byte-level vocabulary, where the layer stage and its mask set the buffer
    and it grows with the context). On unified memory the host buffer counts too.
    n_ubatch is capped by the requested (unpadded) context, as llama.cpp caps n_batch.
    """
    ctx = np.asarray(n_ctx, dtype=np.int64)
    ub = np.minimum(np.asarray(n_ubatch, dtype=np.int64), ctx).astype(float)
    n_kv_full, n_kv_swa, mask_cells = kq_mask_cells(a.mixers, a.swa_window, ctx, ub)
    has_full, has_swa = MIXER_FULL in a.mixers, MIXER_SWA in a.mixers
    n_kv = n_kv_full if has_full or not has_swa else n_kv_swa  # the widest mask a layer reads
    fa = np.asarray(flash_attn, dtype=bool)
    output = ub * (a.n_vocab + 2 * a.n_embd) * 4
    layer = np.where(fa, ub * (layer_live_floats(a) * 4 + mask_cells * 2), 0.0)
    kq = np.where(fa, 0.0, ub * (n_kv * a.n_head + 2 * a.n_embd) * 4)
    host = ub * (2 * a.n_embd * 4 + n_kv * 2)
    if a.compressed:
        comp_dev, comp_host = _compressed_graph_bytes(ctx, ub, fa)
        layer, host = layer + comp_dev, host + comp_host
    device = np.maximum(np.maximum(output, layer), kq)
    return device + (host if unified_memory else 0.0)


def _compressed_graph_bytes(ctx, ub, fa):
    """DeepSeek-V4's extra compute tensors that grow with the compressed cache (models/deepseek4.cpp):
    per token of the ubatch and per CSA entry (pad(ceil(n_ctx / 4), 256)), the CSA and indexer masks
    (inputs, copied to the device), the indexer's F32 scores and the top-k mask built from a fill and an
    add: 2 + 2 + 4 + 2 + 2 bytes on the device with flash attention (F16 masks), F32 without; the host
    holds the two input masks. Checked against llama-fit-params on the H200 at 64K and 1M context
    (validation/h200_unseen/results_dsv4): 12.07 device and 4.06 host bytes per (token x entry)."""
    csa = compressed_cells(ctx, CSA_RATIO).astype(float)
    m = np.where(fa, 2.0, 4.0)
    return ub * csa * (4 * m + 4), ub * csa * 2 * m


@dataclass(frozen=True)
class MemoryBreakdown:
    weights_bytes: np.ndarray
    kv_cache_bytes: np.ndarray
    compute_buffer_bytes: np.ndarray
    overhead_bytes: np.ndarray

    @property
    def total_bytes(self):
        return self.weights_bytes + self.kv_cache_bytes + self.compute_buffer_bytes + self.overhead_bytes


def output_buffer_bytes(a: ModelArch, parallel=1):
    return a.n_vocab * 4 * np.maximum(1, np.asarray(parallel))
