"""The tensor list of a model, as llama.cpp's loader expects it, derived from its architecture.

Used when no GGUF header is at hand (a catalog id): weights are then the sum over this list
under a file type's mix. Shapes are in ggml order (ne0 = row length = input width).
Names follow llama.cpp's `LLM_TENSOR_NAMES` (src/llama-arch.cpp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vtt.specs.model_arch import (
    CSA_RATIO,
    FFN_DENSE,
    FFN_MOE,
    MIXER_FULL,
    MIXER_NONE,
    MIXER_RECURRENT,
    MIXER_SWA,
    ModelArch,
)


@dataclass(frozen=True)
class TensorShape:
    name: str
    ne: tuple[int, ...]
    layer: int = -1  # -1 for tensors outside the blocks

    @property
    def n_elements(self) -> int:
        return math.prod(self.ne)

    @property
    def is_expert(self) -> bool:
        return "_exps" in self.name


# Per-arch extras, from src/models/<arch>.cpp load_arch_tensors (llama-cpp-python 0.3.36 vendor tree).
_QKV_BIAS = {"qwen2", "qwen2moe", "qwen2vl", "gpt-oss", "glm4moe"}
# Gated-DeltaNet hybrids (src/models/qwen3next.cpp, qwen35.cpp, qwen35moe.cpp): full-attention layers
# project Q and its output gate together (attn_q is 2 x n_head x head wide), recurrent layers are the
# delta rule's qkv / gate / beta-alpha projections (_delta_net), MoE layers gate their shared expert.
# vtt.gguf.arch and vtt.gguf.write read and write these archs' recurrent-layer keys by this set too.
DELTA_NET = frozenset({"qwen3next", "qwen35", "qwen35moe"})
_POST_ATTN_NORM = {"gpt-oss", "glm4moe", *DELTA_NET}
_EXP_PROBS_B = {"deepseek2", "glm4moe", "deepseek4"}


def _compressed_attn(a: ModelArch, il: int) -> list[TensorShape]:
    """A DeepSeek-V4 layer's attention and hyper-connection tensors (models/deepseek4.cpp
    load_arch_tensors): low-rank Q, one shared K/V projection, grouped low-rank output, the
    compressor of a CSA (ratio 4, two overlapping windows) or HCA (128) layer, and a CSA layer's
    lightning indexer with its own compressor."""
    p, e, hd, h, c = f"blk.{il}.", a.n_embd, a.head_dim_k, a.n_head, a.compressed
    mix = (2 + c.hc_mult) * c.hc_mult
    out = [
        TensorShape(p + "attn_sinks.weight", (h,), il),
        TensorShape(p + "attn_q_a.weight", (e, c.q_lora_rank), il),
        TensorShape(p + "attn_q_a_norm.weight", (c.q_lora_rank,), il),
        TensorShape(p + "attn_q_b.weight", (c.q_lora_rank, h * hd), il),
        TensorShape(p + "attn_kv.weight", (e, hd), il),
        TensorShape(p + "attn_kv_a_norm.weight", (hd,), il),
        TensorShape(p + "attn_output_a.weight", (h * hd // c.o_groups, c.o_lora_rank * c.o_groups), il),
        TensorShape(p + "attn_output_b.weight", (c.o_groups * c.o_lora_rank, e), il),
    ]
    for part in ("attn", "ffn"):
        out += [TensorShape(p + f"hc_{part}_fn.weight", (c.hc_mult * e, mix), il),
                TensorShape(p + f"hc_{part}_base.weight", (mix,), il),
                TensorShape(p + f"hc_{part}_scale.weight", (3,), il)]
    ratio = c.ratios[il] if il < len(c.ratios) else 0
    if ratio:
        coff = 2 if ratio == CSA_RATIO else 1  # CSA compresses two overlapping windows
        out += [TensorShape(p + "attn_compressor_kv.weight", (e, coff * hd), il),
                TensorShape(p + "attn_compressor_gate.weight", (e, coff * hd), il),
                TensorShape(p + "attn_compressor_ape.weight", (coff * hd, ratio), il),
                TensorShape(p + "attn_compressor_norm.weight", (hd,), il)]
    if ratio == CSA_RATIO:
        ih, ihd = c.indexer_n_head, c.indexer_head_dim
        out += [TensorShape(p + "indexer.proj.weight", (e, ih), il),
                TensorShape(p + "indexer.attn_q_b.weight", (c.q_lora_rank, ih * ihd), il),
                TensorShape(p + "indexer_compressor_kv.weight", (e, 2 * ihd), il),
                TensorShape(p + "indexer_compressor_gate.weight", (e, 2 * ihd), il),
                TensorShape(p + "indexer_compressor_ape.weight", (2 * ihd, CSA_RATIO), il),
                TensorShape(p + "indexer_compressor_norm.weight", (ihd,), il)]
    return out


def _attn(a: ModelArch, il: int) -> list[TensorShape]:
    p = f"blk.{il}."
    e = a.n_embd
    if a.mla:
        m = a.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        out = []
        if m.q_lora_rank:
            out += [
                TensorShape(p + "attn_q_a.weight", (e, m.q_lora_rank), il),
                TensorShape(p + "attn_q_a_norm.weight", (m.q_lora_rank,), il),
                TensorShape(p + "attn_q_b.weight", (m.q_lora_rank, a.n_head * qk), il),
            ]
        else:
            out.append(TensorShape(p + "attn_q.weight", (e, a.n_head * qk), il))
        out += [
            TensorShape(p + "attn_kv_a_mqa.weight", (e, m.kv_lora_rank + m.qk_rope_head_dim), il),
            TensorShape(p + "attn_kv_a_norm.weight", (m.kv_lora_rank,), il),
            TensorShape(p + "attn_k_b.weight", (m.qk_nope_head_dim, m.kv_lora_rank, a.n_head), il),
            TensorShape(p + "attn_v_b.weight", (m.kv_lora_rank, m.v_head_dim, a.n_head), il),
            TensorShape(p + "attn_output.weight", (a.n_head * m.v_head_dim, e), il),
        ]
        return out
    hq = a.head_dim_q or a.head_dim_k
    gate = 2 if a.arch in DELTA_NET else 1
    out = [
        TensorShape(p + "attn_q.weight", (e, gate * a.n_head * hq), il),
        TensorShape(p + "attn_k.weight", (e, a.n_head_kv * a.head_dim_k), il),
        TensorShape(p + "attn_v.weight", (e, a.n_head_kv * a.head_dim_v), il),
        TensorShape(p + "attn_output.weight", (a.n_head * a.head_dim_v, e), il),
    ]
    if a.arch in _QKV_BIAS:
        out += [
            TensorShape(p + "attn_q.bias", (a.n_head * hq,), il),
            TensorShape(p + "attn_k.bias", (a.n_head_kv * a.head_dim_k,), il),
            TensorShape(p + "attn_v.bias", (a.n_head_kv * a.head_dim_v,), il),
        ]
    if a.arch in ("qwen3", "qwen3moe", "qwen3next", "gemma3", "glm4moe", "qwen35", "qwen35moe"):
        out += [
            TensorShape(p + "attn_q_norm.weight", (hq,), il),
            TensorShape(p + "attn_k_norm.weight", (a.head_dim_k,), il),
        ]
    if a.arch == "gpt-oss":
        out += [
            TensorShape(p + "attn_output.bias", (e,), il),
            TensorShape(p + "attn_sinks.weight", (a.n_head,), il),
        ]
    if a.arch == "gemma3":
        out.append(TensorShape(p + "post_attention_norm.weight", (e,), il))
    return out


def _delta_net(a: ModelArch, il: int) -> list[TensorShape]:
    """A gated-DeltaNet layer as llama.cpp loads it (load_arch_tensors of qwen3next / qwen35 / qwen35moe):
    head width d_state, n_group key heads, dt_rank value heads. Qwen3-Next keeps beta and alpha in one
    matrix (ssm_ba), Qwen3.5 in two."""
    s = a.ssm
    p = f"blk.{il}."
    key, value = s.d_state * s.n_group, s.d_state * s.dt_rank
    e, nv, qkv = a.n_embd, max(s.dt_rank, 1), 2 * key + value
    out = [
        TensorShape(p + "attn_qkv.weight", (e, qkv), il),
        TensorShape(p + "attn_gate.weight", (e, value), il),
        TensorShape(p + "ssm_conv1d.weight", (s.d_conv, qkv), il),
        TensorShape(p + "ssm_dt.bias", (nv,), il),
        TensorShape(p + "ssm_a", (nv,), il),
    ]
    if a.arch == "qwen3next":
        out.append(TensorShape(p + "ssm_ba.weight", (e, 2 * nv), il))
    else:
        out += [TensorShape(p + "ssm_beta.weight", (e, nv), il), TensorShape(p + "ssm_alpha.weight", (e, nv), il)]
    return out + [TensorShape(p + "ssm_norm.weight", (s.d_state,), il),
                  TensorShape(p + "ssm_out.weight", (value, e), il)]


def _recurrent(a: ModelArch, il: int) -> list[TensorShape]:
    if a.arch in DELTA_NET:
        return _delta_net(a, il)
    s = a.ssm
    p = f"blk.{il}."
    gs = s.n_group * s.d_state
    conv_ch = s.d_inner + 2 * gs
    return [
        TensorShape(p + "ssm_in.weight", (a.n_embd, 2 * s.d_inner + 2 * gs + 2 * s.dt_rank), il),
        TensorShape(p + "ssm_conv1d.weight", (s.d_conv, conv_ch), il),
        TensorShape(p + "ssm_a", (max(s.dt_rank, 1),), il),
        TensorShape(p + "ssm_dt.bias", (max(s.dt_rank, 1),), il),
        TensorShape(p + "ssm_norm.weight", (s.d_state,), il),
        TensorShape(p + "ssm_out.weight", (s.d_inner, a.n_embd), il),
    ]


def _ffn(a: ModelArch, il: int, kind: str) -> list[TensorShape]:
    p = f"blk.{il}."
    e = a.n_embd
    # gpt-oss and GLM-4.x name the pre-FFN norm post_attention_norm (llama.cpp ATTN_POST_NORM)
    norm = "post_attention_norm.weight" if a.arch in _POST_ATTN_NORM else "ffn_norm.weight"
    out = [TensorShape(p + norm, (e,), il)]
    if a.arch == "gemma3":
        out.append(TensorShape(p + "post_ffw_norm.weight", (e,), il))
    if kind == FFN_DENSE:
        if a.ffn_gated:
            out.append(TensorShape(p + "ffn_gate.weight", (e, a.n_ff), il))
        out += [
            TensorShape(p + "ffn_up.weight", (e, a.n_ff), il),
            TensorShape(p + "ffn_down.weight", (a.n_ff, e), il),
        ]
    elif kind == FFN_MOE:
        f, n = a.n_ff_exp, a.n_expert
        out.append(TensorShape(p + "ffn_gate_inp.weight", (e, n), il))
        if a.compressed is not None and il < a.compressed.hash_layers:  # routed by token id (int32)
            out.append(TensorShape(p + "ffn_gate_tid2eid.weight", (a.n_expert_used, a.n_vocab), il))
        elif a.arch in _EXP_PROBS_B:  # sigmoid router's score-correction bias (noaux_tc)
            out.append(TensorShape(p + "exp_probs_b.bias", (n,), il))
        if a.ffn_gated:
            out.append(TensorShape(p + "ffn_gate_exps.weight", (e, f, n), il))
        out += [
            TensorShape(p + "ffn_up_exps.weight", (e, f, n), il),
            TensorShape(p + "ffn_down_exps.weight", (f, e, n), il),
        ]
        if a.arch == "gpt-oss":  # router and expert biases (models/openai-moe.cpp)
            out += [
                TensorShape(p + "ffn_gate_inp.bias", (n,), il),
                TensorShape(p + "ffn_gate_exps.bias", (f, n), il),
                TensorShape(p + "ffn_up_exps.bias", (f, n), il),
                TensorShape(p + "ffn_down_exps.bias", (e, n), il),
            ]
        if a.n_expert_shared and a.n_ff_shexp:
            fs = a.n_ff_shexp
            if a.arch in DELTA_NET:  # a sigmoid gate on the shared expert's output
                out.append(TensorShape(p + "ffn_gate_inp_shexp.weight", (e,), il))
            if a.ffn_gated:
                out.append(TensorShape(p + "ffn_gate_shexp.weight", (e, fs), il))
            out += [
                TensorShape(p + "ffn_up_shexp.weight", (e, fs), il),
                TensorShape(p + "ffn_down_shexp.weight", (fs, e), il),
            ]
    return out


def tensor_shapes(a: ModelArch) -> list[TensorShape]:
    """Every tensor of the model file (MTP layers included, as converters store them)."""
    e = a.n_embd
    out = [TensorShape("token_embd.weight", (e, a.n_vocab)), TensorShape("output_norm.weight", (e,))]
    if not a.tied_embeddings:
        out.append(TensorShape("output.weight", (e, a.n_vocab)))
    if a.compressed is not None:  # the output's hyper-connection mix (models/deepseek4.cpp)
        hc = a.compressed.hc_mult
        out += [TensorShape("output_hc_fn.weight", (hc * e, hc)), TensorShape("output_hc_base.weight", (hc,)),
                TensorShape("output_hc_scale.weight", (1,))]
    mixers, ffns = a.mixers, a.ffns
    for il in range(a.n_layer):
        run = il < a.n_layer_run
        mixer = mixers[il] if run else MIXER_FULL
        ffn = ffns[il] if run else (FFN_MOE if a.is_moe else FFN_DENSE)
        if mixer != MIXER_NONE:
            out.append(TensorShape(f"blk.{il}.attn_norm.weight", (e,), il))
        if a.compressed is not None:
            out += _compressed_attn(a, il)
        elif mixer in (MIXER_FULL, MIXER_SWA):
            out += _attn(a, il)
        elif mixer == MIXER_RECURRENT:
            out += _recurrent(a, il)
        if ffn != "-":
            out += _ffn(a, il, ffn)
        if not run:  # NextN/MTP block extras (llama.cpp: nextn.eh_proj, enorm, hnorm)
            out += [
                TensorShape(f"blk.{il}.nextn.eh_proj.weight", (2 * e, e), il),
                TensorShape(f"blk.{il}.nextn.enorm.weight", (e,), il),
                TensorShape(f"blk.{il}.nextn.hnorm.weight", (e,), il),
            ]
    return out
