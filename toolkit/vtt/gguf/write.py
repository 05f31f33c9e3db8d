"""Write a GGUF with random weights that real llama.cpp loads and runs, from a ModelArch.

The tensor list is `vtt.cost.tensors.tensor_shapes(arch)`, so the bytes vtt predicts for an
architecture are the bytes of the file this writes. Timings on such a file are real (same
shapes, same kernels); the text it generates is garbage.

Memory stays small for big models: tensor infos are declared first, then each tensor's data is
streamed to the file by repeating a small quantized block of random rows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vtt import ggml_types
from vtt.cost.tensors import DELTA_NET, TensorShape, tensor_shapes
from vtt.specs.model_arch import ModelArch

WEIGHT_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "mxfp4")
_FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "bf16": 32, "mxfp4": 38}  # llama_ftype (MXFP4_MOE = 38)
_KEEP_F32 = ("_norm", "ffn_gate_inp", "attn_sinks", ".bias", "ssm_a", "ssm_d", "ssm_conv1d")
_BLOCK_BYTES = 4 * 2**20  # random data generated per tensor, at most
# llama.cpp hard-codes these SWA patterns; write the key only when the arch differs.
_DEFAULT_SWA = {"gpt-oss": 2, "gemma3": 6}


def _tensor_type(t: TensorShape, weight_type: str) -> str:
    if len(t.ne) < 2 or any(s in t.name for s in _KEEP_F32):
        return "f32"
    typ = weight_type
    if weight_type == "mxfp4":  # MXFP4_MOE: experts MXFP4, other matrices Q8_0
        typ = "mxfp4" if t.is_expert else "q8_0"
    if t.ne[0] % ggml_types.block_size(typ):
        typ = "f16"
    return typ


def _vocab(n_vocab: int):
    """A SentencePiece ('llama') vocab: <unk> <s> </s>, 256 byte tokens, then filler pieces."""
    if n_vocab < 260:
        raise ValueError(f"n_vocab {n_vocab} too small: the SPM vocab needs 3 control + 256 byte tokens")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256  # UNKNOWN, CONTROL, CONTROL, BYTE
    tokens += [f"\u2581t{i}" for i in range(n_vocab - len(tokens))]
    types += [1] * (n_vocab - len(types))
    scores = [0.0] * 259 + [-float(k) for k in range(n_vocab - 259)]
    return tokens, scores, types


def _metadata(w, a: ModelArch, weight_type: str) -> None:
    arch = a.arch
    w.add_name(a.name)
    w.add_file_type(_FILE_TYPE[weight_type])
    if weight_type not in ("f32", "f16", "bf16"):
        w.add_quantization_version(2)
    w.add_context_length(a.n_ctx_train)
    w.add_embedding_length(a.n_embd)
    w.add_block_count(a.n_layer)
    if a.n_ff:
        w.add_feed_forward_length(a.n_ff)
    w.add_head_count(a.n_head)
    w.add_head_count_kv(a.n_head_kv)
    w.add_key_length(a.head_dim_k)
    w.add_value_length(a.head_dim_v)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    if a.mla:
        m = a.mla
        w.add_rope_dimension_count(m.qk_rope_head_dim)
        if m.q_lora_rank:
            w.add_q_lora_rank(m.q_lora_rank)
        w.add_kv_lora_rank(m.kv_lora_rank)
        w.add_uint32(f"{arch}.attention.key_length_mla", m.qk_nope_head_dim + m.qk_rope_head_dim)
        w.add_uint32(f"{arch}.attention.value_length_mla", m.v_head_dim)
    elif a.compressed is not None:  # DeepSeek-V4: the keys models/deepseek4.cpp load_arch_hparams reads
        c = a.compressed
        w.add_rope_dimension_count(c.rope_dim)
        w.add_q_lora_rank(c.q_lora_rank)
        w.add_array(f"{arch}.attention.compress_ratios", [*c.ratios, *[0] * a.n_nextn_layer])
        for k, v in (("indexer.head_count", c.indexer_n_head), ("indexer.key_length", c.indexer_head_dim),
                     ("indexer.top_k", c.indexer_top_k), ("output_group_count", c.o_groups),
                     ("output_lora_rank", c.o_lora_rank)):
            w.add_uint32(f"{arch}.attention.{k}", v)
        w.add_float32(f"{arch}.attention.compress_rope_freq_base", 160000.0)
        w.add_uint32(f"{arch}.hyper_connection.count", c.hc_mult)
        w.add_uint32(f"{arch}.hyper_connection.sinkhorn_iterations", 20)
        w.add_float32(f"{arch}.hyper_connection.epsilon", 1e-6)
        w.add_uint32(f"{arch}.hash_layer_count", c.hash_layers)
        w.add_float32(f"{arch}.swiglu_clamp_exp", 10.0)
    elif a.arch in ("qwen35", "qwen35moe"):  # partial multi-section RoPE (Qwen3.5: 64 of 256 dims)
        w.add_rope_dimension_count(64)
        w.add_array(f"{arch}.rope.dimension_sections", [11, 11, 10, 0])
    else:
        w.add_rope_dimension_count(a.head_dim_k)
    if a.ssm is not None:
        s = a.ssm
        w.add_uint32(f"{arch}.ssm.conv_kernel", s.d_conv)
        w.add_uint32(f"{arch}.ssm.inner_size", s.d_inner)
        w.add_uint32(f"{arch}.ssm.state_size", s.d_state)
        w.add_uint32(f"{arch}.ssm.time_step_rank", s.dt_rank)
        w.add_uint32(f"{arch}.ssm.group_count", s.n_group)
    if a.recurrent_interval:
        w.add_uint32(f"{arch}.full_attention_interval", a.recurrent_interval)
    elif a.layer_pattern and "R" in a.layer_pattern and arch in DELTA_NET:
        w.add_array(f"{arch}.attention.recurrent_layers", [c == "R" for c in a.layer_pattern])
    if a.swa_window:
        w.add_sliding_window(a.swa_window)
        if a.swa_pattern and a.swa_pattern != _DEFAULT_SWA.get(arch):
            w.add_uint32(f"{arch}.attention.sliding_window_pattern", a.swa_pattern)
        if a.layer_pattern and "S" in a.layer_pattern and a.compressed is None:
            w.add_array(f"{arch}.attention.sliding_window_pattern", [c == "S" for c in a.layer_pattern])
    if a.n_nextn_layer:
        w.add_uint32(f"{arch}.nextn_predict_layers", a.n_nextn_layer)
    if a.n_expert:
        w.add_expert_count(a.n_expert)
        w.add_expert_used_count(a.n_expert_used)
        w.add_expert_feed_forward_length(a.n_ff_exp)
        if a.n_dense_lead:
            w.add_leading_dense_block_count(a.n_dense_lead)
        if arch in ("deepseek2", "glm4moe", "deepseek4"):
            w.add_expert_shared_count(a.n_expert_shared)
            w.add_expert_weights_scale(1.0)
            w.add_expert_weights_norm(True)
            # sigmoid (noaux_tc); DeepSeek-V4 scores with sqrt(softplus) (LLAMA_EXPERT_GATING_FUNC_TYPE_SQRT_SOFTPLUS)
            w.add_uint32(f"{arch}.expert_gating_func", 4 if a.compressed is not None else 2)
        elif a.n_expert_shared:
            w.add_expert_shared_count(a.n_expert_shared)
            w.add_expert_shared_feed_forward_length(a.n_ff_shexp)
    tokens, scores, types = _vocab(a.n_vocab)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)


def _block(t: TensorShape, typ: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """A few whole rows of quantized random data (uint8) and the row count of the tensor."""
    import gguf

    ne0 = t.ne[0]
    n_rows = t.n_elements // ne0
    row_bytes = ggml_types.row_bytes(typ, ne0)
    k = max(1, min(n_rows, _BLOCK_BYTES // max(row_bytes, 1)))
    name = t.name
    if name.endswith("_norm.weight") or "norm" in name.rsplit(".", 2)[-2]:
        x = np.ones((k, ne0), dtype=np.float32)
    elif name.endswith(".bias") or "attn_sinks" in name:
        x = np.zeros((k, ne0), dtype=np.float32)
    else:
        x = rng.standard_normal((k, ne0), dtype=np.float32) * 0.02
    qt = gguf.GGMLQuantizationType[typ.upper()]
    q = np.ascontiguousarray(gguf.quants.quantize(x, qt)).view(np.uint8).reshape(k, row_bytes)
    return q, n_rows


def write_random_gguf(arch: ModelArch, path: str | Path, *, weight_type: str = "f16",
                      n_layer: int | None = None, seed: int = 0, header_only: bool = False) -> Path:
    """Write `arch` as a GGUF with random weights of `weight_type`; `n_layer` keeps fewer layers.

    `header_only` stops after the tensor table: the file vtt reads to predict a big model
    exactly, before (or without) writing its gigabytes. Returns the path. Norms are 1, biases and sinks 0, the rest N(0, 0.02): finite activations.
    """
    import gguf

    if weight_type not in WEIGHT_TYPES:
        raise ValueError(f"weight_type {weight_type!r} not in {WEIGHT_TYPES}")
    if n_layer is not None and n_layer != arch.n_layer:
        arch = shrink_layers(arch, n_layer)
    path = Path(path)
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, arch.arch)
    _metadata(w, arch, weight_type)
    plan = [(t, _tensor_type(t, weight_type)) for t in tensor_shapes(arch)]
    for t, typ in plan:
        qt = gguf.GGMLQuantizationType[typ.upper()]
        w.add_tensor_info(t.name, tuple(reversed(t.ne)), np.dtype(np.float32),
                          ggml_types.tensor_bytes(typ, t.ne), raw_dtype=qt)
    w.write_header_to_file(path)
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    if header_only:  # a sparse file of the full size: no data written, no disk used
        fout = w.fout[0]
        w.write_padding(fout, fout.tell(), w.data_alignment)
        data = sum(-(-ggml_types.tensor_bytes(typ, t.ne) // w.data_alignment) * w.data_alignment for t, typ in plan)
        fout.truncate(fout.tell() + data)
        w.tensors = [{}]
        w.close()
        return path
    fout = w.fout[0]
    align = w.data_alignment
    for t, typ in plan:
        w.write_padding(fout, fout.tell(), align)
        block, n_rows = _block(t, typ, rng)
        full, rest = divmod(n_rows, block.shape[0])
        data = block.tobytes()
        for _ in range(full):
            fout.write(data)
        if rest:
            fout.write(block[:rest].tobytes())
        w.write_padding(fout, fout.tell(), align)
    w.tensors = [{}]
    w.close()
    return path


def shrink_layers(a: ModelArch, n_layer: int) -> ModelArch:
    """The same architecture with fewer layers (patterns cut, NextN layers kept if they fit)."""
    if n_layer <= 0:
        raise ValueError("n_layer must be > 0")
    n_next = min(a.n_nextn_layer, max(n_layer - 1, 0))
    n_run = n_layer - n_next
    upd = {"n_layer": n_layer, "n_nextn_layer": n_next, "n_dense_lead": min(a.n_dense_lead, n_run)}
    if a.layer_pattern:
        upd["layer_pattern"] = (a.layer_pattern * math.ceil(n_run / len(a.layer_pattern)))[:n_run]
    if a.ffn_pattern:
        upd["ffn_pattern"] = (a.ffn_pattern * math.ceil(n_run / len(a.ffn_pattern)))[:n_run]
    data = a.model_dump()
    data.update(upd)
    if a.compressed is not None:  # the ratios follow the layers, as the patterns do
        r = a.compressed.ratios
        data["compressed"] = {**data["compressed"], "ratios": (r * math.ceil(n_run / len(r)))[:n_run],
                              "hash_layers": min(a.compressed.hash_layers, n_run)}
    return ModelArch(**data)
