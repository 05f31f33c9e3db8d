"""GGUF metadata -> ModelArch, deriving per-layer kinds the way llama.cpp's loader does.

Sources (llama.cpp as vendored by llama-cpp-python 0.3.36): src/llama-model.cpp
`llama_model_base::load_hparams` (common keys; `head_count_kv` defaults to `head_count`;
key/value length default to n_embd / n_head), src/models/<arch>.cpp `load_arch_hparams`
(per-arch keys and hard-coded patterns), src/llama-hparams.cpp `set_swa_pattern`
(layer il is SWA iff il % n < n - 1; NextN layers never), `n_layer() = block_count - nextn`.
"""

from __future__ import annotations

import re
from typing import Any

from vtt.errors import GgufError
from vtt.gguf.reader import GgufHeader, SkippedArray

# Archs whose SWA pattern llama.cpp hard-codes (used unless sliding_window_pattern is in the file).
_SWA_PATTERN = {"gpt-oss": 2, "gemma3": 6, "gemma2": 2, "cohere2": 4, "llama4": 4}
# Archs with separate gate/up/down FFNs is the default; these use plain up+down.
_UNGATED = {"nemotron_h", "gpt2", "starcoder", "phi2", "bloom", "mpt", "falcon"}


def _seq(v: Any) -> list | None:
    if v is None or isinstance(v, (str, bytes, int, float, SkippedArray)):
        return None
    return list(v)


class _Keys:
    def __init__(self, h: GgufHeader, arch: str):
        self.h, self.arch = h, arch

    def raw(self, key: str) -> Any:
        return self.h.metadata.get(f"{self.arch}.{key}")

    def int(self, key: str, default: int | None = None) -> int | None:
        v = self.raw(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            seq = _seq(v)
            if seq is None:
                raise GgufError(f"gguf: {self.arch}.{key} is not a number in {self.h.name}")
            nz = [int(x) for x in seq if x]
            return max(nz) if nz else 0
        return int(v)

    def per_layer(self, key: str, n: int, default: int | None = None) -> list[int] | None:
        """A scalar-or-array key as one value per layer (llama.cpp get_key_or_arr)."""
        v = self.raw(key)
        if v is None:
            return None if default is None else [default] * n
        seq = _seq(v)
        if seq is None:
            return [int(v)] * n
        if len(seq) != n:
            raise GgufError(f"gguf: {self.arch}.{key} has {len(seq)} entries for {n} layers in {self.h.name}")
        return [int(x) for x in seq]

    def need(self, key: str) -> int:
        v = self.int(key)
        if v is None:
            raise GgufError(f"gguf: missing key {self.arch}.{key} in {self.h.name}")
        return v


def _slug(s: str) -> str:
    s = re.sub(r"[^a-z0-9.]+", "-", s.lower()).strip("-")
    return s or "gguf-model"


def _n_vocab(h: GgufHeader, k: _Keys) -> int:
    v = k.int("vocab_size")
    if v:
        return v
    n = h.array_len("tokenizer.ggml.tokens")
    if n:
        return n
    for t in h.tensors:
        if t.name == "token_embd.weight" and len(t.ne) >= 2:
            return t.ne[1]
    raise GgufError(f"gguf: no vocab size ({k.arch}.vocab_size or tokenizer.ggml.tokens) in {h.name}")


def arch_from_header(h: GgufHeader, id: str | None = None, name: str | None = None):
    """The ModelArch a GGUF header describes (hyper-parameters as llama.cpp reads them)."""
    from vtt.specs.model_arch import Mla, ModelArch, Ssm  # pydantic: only when needed

    arch = h.arch
    if not arch:
        raise GgufError(f"gguf: missing general.architecture in {h.name}")
    k = _Keys(h, arch)
    n_layer = k.need("block_count")
    if not 0 < n_layer <= 4096:
        raise GgufError(f"gguf: {arch}.block_count {n_layer} out of range in {h.name}")
    n_nextn = k.int("nextn_predict_layers", 0)
    n_run = n_layer - n_nextn
    if n_run <= 0:
        raise GgufError(f"gguf: nextn_predict_layers {n_nextn} >= block_count {n_layer} in {h.name}")
    n_embd = k.need("embedding_length")

    heads = k.per_layer("attention.head_count", n_layer, 0)
    heads_kv = k.per_layer("attention.head_count_kv", n_layer) or list(heads)
    ffs = k.per_layer("feed_forward_length", n_layer, 0)
    n_head = max(heads[:n_run]) if heads else 0
    kv_run = [x for x in heads_kv[:n_run] if x]
    n_head_kv = max(kv_run) if kv_run else 0
    if n_head <= 0:
        raise GgufError(f"gguf: {arch}.attention.head_count missing or zero in {h.name}")
    head_k = k.int("attention.key_length") or n_embd // n_head
    head_v = k.int("attention.value_length") or n_embd // n_head

    n_expert = k.int("expert_count", 0)
    n_expert_used = k.int("expert_used_count", 0)
    n_ff_exp = k.int("expert_feed_forward_length", 0)
    n_shared = k.int("expert_shared_count", 0)
    n_ff_shexp = k.int("expert_shared_feed_forward_length", 0)
    n_dense_lead = k.int("leading_dense_block_count", 0)
    if n_expert and not n_ff_exp and arch == "glm4moe" and n_expert_used:
        n_ff_exp = max(ffs) // n_expert_used  # llama.cpp glm4-moe fallback
    if n_shared and not n_ff_shexp:
        n_ff_shexp = n_ff_exp * n_shared  # deepseek2/glm4moe: shared width = n_ff_exp x count
    elif n_ff_shexp and not n_shared:
        n_shared = 1  # qwen3next/qwen2moe: one shared expert of the stated width

    fields: dict[str, Any] = {}
    layer_pattern: str | None = None
    ffn_pattern: str | None = None

    # ---- sliding window ----
    swa_window = k.int("attention.sliding_window", 0) or 0
    swa_raw = k.raw("attention.sliding_window_pattern")
    swa_pattern = 0
    if arch == "llama4":
        if k.raw("attention.sliding_window") is not None and swa_window == 0:
            swa_pattern = 0
        else:
            swa_window, swa_pattern = 8192, 4  # chunked attention, 3 chunked : 1 full
    elif swa_window > 0:
        swa_pattern = _SWA_PATTERN.get(arch, 0)
    if swa_window > 0 and swa_raw is not None:
        seq = _seq(swa_raw)
        if seq is not None:  # explicit per-layer flags
            if len(seq) < n_run:
                raise GgufError(f"gguf: {arch}.attention.sliding_window_pattern has {len(seq)} entries in {h.name}")
            layer_pattern = "".join("S" if x else "A" for x in seq[:n_run])
            swa_pattern = 0
        else:
            swa_pattern = int(swa_raw)
    if swa_pattern and not swa_window:
        swa_pattern = 0

    # ---- recurrent / hybrid ----
    recurrent_interval = 0
    ssm = None
    if k.raw("ssm.conv_kernel") is not None and k.raw("ssm.state_size") is not None:
        ssm = Ssm(d_conv=k.need("ssm.conv_kernel"), d_inner=k.need("ssm.inner_size"),
                  d_state=k.need("ssm.state_size"), n_group=k.int("ssm.group_count", 1) or 1,
                  dt_rank=k.int("ssm.time_step_rank", 0) or 0)
    if arch in ("qwen3next", "qwen35", "qwen35moe"):
        rec = _seq(k.raw("attention.recurrent_layers"))
        if rec is not None:
            layer_pattern = "".join("R" if x else "A" for x in rec[:n_run])
        else:
            recurrent_interval = k.int("full_attention_interval", 4) or 4
    elif arch.startswith("nemotron_h"):
        # llama.cpp models/nemotron-h.cpp: recurrent iff head_count_kv(il) == 0 and
        # feed_forward_length(il) == 0; attention iff n_ff(il) == 0; otherwise an FFN-only block
        # (MoE when expert_count > 0, else a plain up/down MLP).
        lp, fp = [], []
        for il in range(n_run):
            if heads_kv[il] == 0 and ffs[il] == 0:
                lp.append("R"), fp.append("-")
            elif ffs[il] == 0:
                lp.append("A"), fp.append("-")
            else:
                lp.append("-"), fp.append("E" if n_expert else "D")
        layer_pattern, ffn_pattern = "".join(lp), "".join(fp)

    # ---- FFN layout ----
    if arch == "llama4" and n_expert:
        step = k.int("interleave_moe_layer_step", 1) or 1
        ffn_pattern = "".join("E" if (il + 1) % step == 0 else "D" for il in range(n_run))

    dense_ffs = [f for il, f in enumerate(ffs[:n_run]) if f and (not n_expert or il < n_dense_lead
                                                                  or (ffn_pattern and ffn_pattern[il] == "D"))]
    n_ff = max(dense_ffs) if dense_ffs else max(ffs, default=0)  # all-MoE: kept as stated, unused

    # ---- MLA ----
    mla = None
    head_q = None
    if arch in ("deepseek2", "glm_dsa", "deepseek32") and k.raw("attention.kv_lora_rank") is not None:
        kv_lora = k.need("attention.kv_lora_rank")
        rope = k.int("rope.dimension_count") or head_k
        k_mla = k.int("attention.key_length_mla") or head_k
        v_mla = k.int("attention.value_length_mla") or head_v
        if k_mla - rope <= 0:
            raise GgufError(f"gguf: MLA key length {k_mla} not above rope dim {rope} in {h.name}")
        mla = Mla(kv_lora_rank=kv_lora, q_lora_rank=k.int("attention.q_lora_rank", 0) or 0,
                  qk_rope_head_dim=rope, qk_nope_head_dim=k_mla - rope, v_head_dim=v_mla)
        head_q = k_mla

    tied = not any(t.name == "output.weight" for t in h.tensors) if h.tensors else False

    fields.update(
        id=id or _slug(str(h.metadata.get("general.name") or h.name.rsplit("/", 1)[-1].removesuffix(".gguf"))),
        name=name or str(h.metadata.get("general.name") or h.name.rsplit("/", 1)[-1]),
        family=arch,
        arch=arch,
        n_layer=n_layer,
        n_nextn_layer=n_nextn,
        n_embd=n_embd,
        n_vocab=_n_vocab(h, k),
        n_ctx_train=k.need("context_length"),
        n_head=n_head,
        n_head_kv=n_head_kv or n_head,
        head_dim_k=head_k,
        head_dim_v=head_v,
        head_dim_q=head_q,
        swa_window=swa_window if (swa_pattern or (layer_pattern and "S" in layer_pattern)) else 0,
        swa_pattern=swa_pattern,
        recurrent_interval=recurrent_interval,
        layer_pattern=layer_pattern,
        ffn_pattern=ffn_pattern,
        mla=mla,
        ssm=ssm,
        n_ff=n_ff,
        n_dense_lead=n_dense_lead if n_expert else 0,
        n_expert=n_expert,
        n_expert_used=n_expert_used if n_expert else 0,
        n_ff_exp=n_ff_exp if n_expert else 0,
        n_expert_shared=n_shared if n_expert else 0,
        n_ff_shexp=n_ff_shexp if n_expert else 0,
        ffn_gated=arch not in _UNGATED,
        tied_embeddings=tied,
    )
    try:
        return ModelArch(**fields)
    except ValueError as e:  # pydantic ValidationError is a ValueError
        first = str(e).splitlines()
        msg = first[2].strip() if len(first) > 2 else first[0]
        raise GgufError(f"gguf: inconsistent hyper-parameters ({msg}) in {h.name}") from None


def profile_from_header(h: GgufHeader, arch=None):
    """WeightProfile from the header's real tensor types and sizes (source "gguf")."""
    from vtt.cost.weights import profile_from_tensors

    a = arch if arch is not None else arch_from_header(h)
    rows = [(t.name, t.ne, float(t.n_bytes)) for t in h.tensors]
    return profile_from_tensors(rows, a, "gguf")
