"""GGUF metadata -> ModelArch, deriving per-layer kinds the way llama.cpp's loader does.

Sources (llama.cpp as vendored by llama-cpp-python 0.3.36): src/llama-model.cpp
`llama_model_base::load_hparams` (common keys; `head_count_kv` defaults to `head_count`;
key/value length default to n_embd / n_head), src/models/<arch>.cpp `load_arch_hparams`
(per-arch keys and hard-coded patterns), src/llama-hparams.cpp `set_swa_pattern`
(layer il is SWA iff il % n < n - 1; NextN layers never), `n_layer() = block_count - nextn`.
"""

from __future__ import annotations

import math
import re
from typing import Any

from vtt.errors import GgufError
from vtt.gguf.reader import GgufHeader, SkippedArray
from vtt.textsafe import printable

# Archs whose SWA pattern llama.cpp hard-codes (used unless sliding_window_pattern is in the file).
_SWA_PATTERN = {"gpt-oss": 2, "gemma3": 6, "gemma2": 2, "cohere2": 4, "llama4": 4}
# Archs with separate gate/up/down FFNs is the default; these use plain up+down.
_UNGATED = {"nemotron_h", "gpt2", "starcoder", "phi2", "bloom", "mpt", "falcon"}


# Bounds every real model meets with room to spare (largest published values in comments);
# past them a value is hostile or corrupt, and would cost minutes and gigabytes downstream.
# key -> (lowest, highest) for the value as llama.cpp reads it.
BOUNDS: dict[str, tuple[int, int]] = {
    "block_count": (1, 1024),                      # Llama-3.1-405B 126, DeepSeek-V3 61 + 1 MTP
    "nextn_predict_layers": (0, 64),               # GLM-4.5 1
    "embedding_length": (1, 1 << 17),              # Llama-3.1-405B 16384
    "context_length": (1, 1 << 28),                # Llama-4-Scout 10M
    "vocab_size": (1, 1 << 23),                    # Gemma-3 262144
    "attention.head_count": (0, 4096),             # 128
    "attention.head_count_kv": (0, 4096),          # 0 marks recurrent layers (Nemotron-H)
    "attention.key_length": (1, 1 << 16),          # MLA 576
    "attention.value_length": (1, 1 << 16),
    "feed_forward_length": (0, 1 << 20),           # Llama-3.1-405B 53248
    "expert_count": (0, 4096),                     # Qwen3-Next 512
    "expert_used_count": (0, 4096),
    "expert_feed_forward_length": (0, 1 << 20),
    "expert_shared_count": (0, 256),
    "expert_shared_feed_forward_length": (0, 1 << 20),
    "leading_dense_block_count": (0, 1024),        # DeepSeek-V3 3; also checked against block_count
    "attention.sliding_window": (0, 1 << 28),      # gemma3 1024, gpt-oss 128
    "attention.sliding_window_pattern": (0, 1024),  # 2..6 (or a per-layer bool array)
    "full_attention_interval": (1, 1024),          # Qwen3-Next 4
    "interleave_moe_layer_step": (1, 1024),        # Llama-4-Maverick 2
    "attention.kv_lora_rank": (1, 1 << 16),        # DeepSeek-V3 512
    "attention.q_lora_rank": (0, 1 << 16),         # 1536
    "attention.key_length_mla": (1, 1 << 16),      # 192
    "attention.value_length_mla": (1, 1 << 16),    # 128
    "rope.dimension_count": (1, 1 << 16),          # 64 (MLA) .. 256
    "ssm.conv_kernel": (1, 1024),                  # Mamba2 4
    "ssm.inner_size": (1, 1 << 20),                # Nemotron-H 8192..
    "ssm.state_size": (1, 1 << 16),                # 128
    "ssm.group_count": (0, 1 << 16),               # 8 (0 read as 1)
    "ssm.time_step_rank": (0, 1 << 20),            # 128
    "attention.compress_ratios": (0, 1 << 16),     # DeepSeek-V4 0, 4, 128 per layer
    "attention.indexer.head_count": (1, 4096),     # 64
    "attention.indexer.key_length": (1, 1 << 16),  # 128
    "attention.indexer.top_k": (1, 1 << 24),       # 512
    "attention.output_lora_rank": (1, 1 << 16),    # DeepSeek-V4 1024
    "attention.output_group_count": (1, 1024),     # 8
    "hyper_connection.count": (1, 64),             # 4
    "hash_layer_count": (0, 1024),                 # 3
}
_INT_TYPES = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"}
_ARCH_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
_BLK = re.compile(r"^blk\.(\d+)\.")


def _seq(v: Any) -> list | None:
    if v is None or isinstance(v, (str, bytes, int, float, SkippedArray)):
        return None
    return list(v)


class _Keys:
    """Typed, bounded reads of `{arch}.*` keys: a wrong type, non-finite or out-of-range value
    is a GgufError that names the key (never a TypeError or a 10^30-iteration loop later)."""

    def __init__(self, h: GgufHeader, arch: str):
        self.h, self.arch = h, arch

    def raw(self, key: str) -> Any:
        return self.h.metadata.get(f"{self.arch}.{key}")

    def _bad(self, key: str, v: Any, why: str) -> GgufError:
        shown = repr(v) if not isinstance(v, (list, SkippedArray)) else f"an array of {len(v)}"
        return GgufError(f"gguf: {self.arch}.{key} = {shown[:60]} {why} in {self.h.name}")

    def _check(self, key: str, v: Any, lo: int | None = None, hi: int | None = None) -> int:
        """One integer value of `key`, type- and range-checked."""
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float):
                why = "is not finite" if not math.isfinite(v) else "is a float"
                raise self._bad(key, v, f"{why}, expected an integer")
            raise self._bad(key, v, f"is a {type(v).__name__}, expected an integer")
        blo, bhi = BOUNDS.get(key, (0, 1 << 31))
        lo = blo if lo is None else max(lo, blo)
        hi = bhi if hi is None else min(hi, bhi)
        if not lo <= v <= hi:
            raise self._bad(key, v, f"is out of range [{lo}, {hi}]")
        return v

    def _scalar_or_array(self, key: str) -> tuple[Any, list | None]:
        v = self.raw(key)
        t = self.h.value_types.get(f"{self.arch}.{key}", "")
        if isinstance(v, SkippedArray) or (t.startswith("array[") and t[6:-1] not in _INT_TYPES | {"bool"}):
            raise self._bad(key, v, "is an array of non-integers")
        return v, _seq(v)

    def int(self, key: str, default: int | None = None, lo: int | None = None, hi: int | None = None) -> int | None:
        """A scalar key; an array (per-layer values) gives its largest non-zero entry."""
        v, seq = self._scalar_or_array(key)
        if v is None:
            return default
        if seq is not None:
            if len(seq) > BOUNDS["block_count"][1]:
                raise self._bad(key, v, "has more entries than any model has layers")
            vals = [self._check(key, int(x) if isinstance(x, bool) else x, None, hi) for x in seq]
            nz = [x for x in vals if x]
            return self._check(key, max(nz) if nz else 0, lo, hi)
        return self._check(key, v, lo, hi)

    def per_layer(self, key: str, n: int, default: int | None = None) -> list[int] | None:
        """A scalar-or-array key as one value per layer (llama.cpp get_key_or_arr)."""
        v, seq = self._scalar_or_array(key)
        if v is None:
            return None if default is None else [default] * n
        if seq is None:
            return [self._check(key, v)] * n
        if len(seq) != n:
            raise GgufError(f"gguf: {self.arch}.{key} has {len(seq)} entries for {n} layers in {self.h.name}")
        return [self._check(key, x) for x in seq]

    def flags(self, key: str) -> list[bool] | None:
        """A per-layer boolean/integer array (sliding_window_pattern, recurrent_layers), or None."""
        v, seq = self._scalar_or_array(key)
        if seq is None:
            return None
        if len(seq) > BOUNDS["block_count"][1]:
            raise self._bad(key, v, "has more entries than any model has layers")
        for x in seq:
            if isinstance(x, float):
                raise self._bad(key, v, "holds floats, expected flags")
        return [bool(x) for x in seq]

    def need(self, key: str, lo: int | None = None, hi: int | None = None) -> int:
        v = self.int(key, lo=lo, hi=hi)
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
    from vtt.cost.tensors import DELTA_NET
    from vtt.specs.model_arch import MIXER_SWA, Compressed, Mla, ModelArch, Ssm  # pydantic: only when needed

    arch = h.arch
    if not arch:
        raise GgufError(f"gguf: missing general.architecture in {h.name}")
    if not _ARCH_NAME.match(arch):
        raise GgufError(f"gguf: general.architecture {arch[:64]!r} is not an architecture name in {h.name}")
    k = _Keys(h, arch)
    n_layer = k.need("block_count")
    n_nextn = k.int("nextn_predict_layers", 0)
    n_run = n_layer - n_nextn
    if n_run <= 0:
        raise GgufError(f"gguf: {arch}.nextn_predict_layers {n_nextn} >= block_count {n_layer} in {h.name}")
    n_embd = k.need("embedding_length")

    heads = k.per_layer("attention.head_count", n_layer, 0)
    heads_kv = k.per_layer("attention.head_count_kv", n_layer) or list(heads)
    ffs = k.per_layer("feed_forward_length", n_layer, 0)
    n_head = max(heads[:n_run]) if heads else 0
    kv_run = [x for x in heads_kv[:n_run] if x]
    n_head_kv = max(kv_run) if kv_run else 0
    if n_head <= 0:
        raise GgufError(f"gguf: {arch}.attention.head_count missing or zero in {h.name}")
    for il in range(n_layer):
        if heads_kv[il] > heads[il] and heads[il]:
            raise GgufError(f"gguf: {arch}.attention.head_count_kv {heads_kv[il]} exceeds head_count "
                            f"{heads[il]} (layer {il}) in {h.name}")
    head_k = k.int("attention.key_length") or n_embd // n_head
    head_v = k.int("attention.value_length") or n_embd // n_head
    if head_k <= 0 or head_v <= 0:
        raise GgufError(f"gguf: {arch}.attention.head_count {n_head} exceeds embedding_length {n_embd} "
                        f"and no key_length is given in {h.name}")

    n_expert = k.int("expert_count", 0)
    n_expert_used = k.int("expert_used_count", 0, hi=n_expert)
    if n_expert and not n_expert_used:
        raise GgufError(f"gguf: {arch}.expert_used_count missing or zero for {n_expert} experts in {h.name}")
    n_ff_exp = k.int("expert_feed_forward_length", 0)
    n_shared = k.int("expert_shared_count", 0)
    n_ff_shexp = k.int("expert_shared_feed_forward_length", 0)
    n_dense_lead = k.int("leading_dense_block_count", 0, hi=n_layer)
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
    swa_flags = k.flags("attention.sliding_window_pattern")
    swa_raw = swa_flags if swa_flags is not None else k.int("attention.sliding_window_pattern")
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
            swa_pattern = swa_raw
    if swa_pattern and not swa_window:
        swa_pattern = 0

    # ---- DeepSeek-V4 compressed attention (models/deepseek4.cpp load_arch_hparams: the ratios array
    # covers every layer; set_swa_pattern(0) makes every layer keep the raw window) ----
    compressed = None
    if k.raw("attention.compress_ratios") is not None:
        v, seq = k._scalar_or_array("attention.compress_ratios")
        if seq is None or len(seq) < n_run or len(seq) > BOUNDS["block_count"][1]:
            raise k._bad("attention.compress_ratios", v, f"does not give one ratio per layer ({n_run})")
        compressed = _build(Compressed, h, ratios=[k._check("attention.compress_ratios", x) for x in seq[:n_run]],
                            indexer_n_head=k.need("attention.indexer.head_count"),
                            indexer_head_dim=k.need("attention.indexer.key_length"),
                            indexer_top_k=k.need("attention.indexer.top_k"),
                            q_lora_rank=k.need("attention.q_lora_rank", lo=1),
                            o_lora_rank=k.need("attention.output_lora_rank"),
                            o_groups=k.need("attention.output_group_count"),
                            hc_mult=k.need("hyper_connection.count"),
                            rope_dim=k.need("rope.dimension_count"),
                            hash_layers=k.int("hash_layer_count", 0, hi=n_run) or 0)
        layer_pattern, swa_pattern = MIXER_SWA * n_run, 0

    # ---- recurrent / hybrid ----
    recurrent_interval = 0
    ssm = None
    if k.raw("ssm.conv_kernel") is not None and k.raw("ssm.state_size") is not None:
        d_inner = k.need("ssm.inner_size")
        ssm = _build(Ssm, h, d_conv=k.need("ssm.conv_kernel"), d_inner=d_inner,
                  d_state=k.need("ssm.state_size"), n_group=k.int("ssm.group_count", 1, hi=d_inner) or 1,
                  dt_rank=k.int("ssm.time_step_rank", 0) or 0)
    if arch in DELTA_NET:
        rec = k.flags("attention.recurrent_layers")
        if rec is not None and len(rec) < n_run:
            raise GgufError(f"gguf: {arch}.attention.recurrent_layers has {len(rec)} entries for {n_run} layers "
                            f"in {h.name}")
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
        step = k.int("interleave_moe_layer_step", 1, hi=n_layer) or 1
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
            raise GgufError(f"gguf: {arch}.attention.key_length_mla {k_mla} not above "
                            f"rope.dimension_count {rope} in {h.name}")
        mla = _build(Mla, h, kv_lora_rank=kv_lora, q_lora_rank=k.int("attention.q_lora_rank", 0) or 0,
                  qk_rope_head_dim=rope, qk_nope_head_dim=k_mla - rope, v_head_dim=v_mla)
        head_q = k_mla

    tied = not any(t.name == "output.weight" for t in h.tensors) if h.tensors else False

    fields.update(
        id=id or _slug(str(h.metadata.get("general.name") or h.name.rsplit("/", 1)[-1].removesuffix(".gguf"))),
        name=name or printable(h.metadata.get("general.name") or h.name.rsplit("/", 1)[-1], 200),
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
        compressed=compressed,
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
    a = _build(ModelArch, h, **fields)
    check_tensor_table(h, a, heads_kv, ffs)
    return a


def _build(cls, h: GgufHeader, **fields):
    """A spec model from header values; a value it refuses is a GgufError naming the field."""
    try:
        return cls(**fields)
    except ValueError as e:  # pydantic ValidationError is a ValueError
        lines = str(e).splitlines()
        msg = f"{lines[1].strip()}: {lines[2].strip()}" if len(lines) > 2 else lines[0]
        raise GgufError(f"gguf: inconsistent hyper-parameters ({cls.__name__} {msg}) in {h.name}") from None


def _tensor_shape_error(h: GgufHeader, t, what: str) -> GgufError:
    return GgufError(f"gguf: tensor {t.name} has shape {list(t.ne)}, but {what} in {h.name}")


def check_tensor_table(h: GgufHeader, a, heads_kv: list[int], ffs: list[int]) -> None:
    """The hyper-parameters agree with the tensors llama.cpp would create from them.

    llama.cpp refuses such files at load (llama-model-loader.cpp `create_tensor`: "tensor has
    wrong shape"); vtt refuses them before predicting from them, so a lying key cannot give a
    negative time or a million-GiB buffer. Only shapes every architecture shares are checked.
    """
    if not h.tensors:
        return  # metadata-only header (tests, catalog cross-checks)
    arch = a.arch
    blocks = set()
    for t in h.tensors:
        m = _BLK.match(t.name)
        if m:
            il = int(m.group(1))
            if il >= a.n_layer:
                raise GgufError(f"gguf: tensor {t.name} is past {arch}.block_count {a.n_layer} in {h.name}")
            blocks.add(il)
            rest = t.name[m.end():]
            hk = heads_kv[il] if il < len(heads_kv) else 0
            if not a.mla and rest == "attn_k.weight" and len(t.ne) == 2 and hk and t.ne[1] != hk * a.head_dim_k:
                raise _tensor_shape_error(h, t, f"{arch}.attention.head_count_kv x key_length = {hk} x {a.head_dim_k}")
            if not a.mla and rest == "attn_v.weight" and len(t.ne) == 2 and hk and t.ne[1] != hk * a.head_dim_v:
                raise _tensor_shape_error(h, t, f"{arch}.attention.head_count_kv x value_length = {hk} x {a.head_dim_v}")
            if rest in ("ffn_up_exps.weight", "ffn_gate_exps.weight") and len(t.ne) == 3:
                if t.ne[2] != a.n_expert or t.ne[1] != a.n_ff_exp:
                    raise _tensor_shape_error(
                        h, t, f"{arch}.expert_count = {a.n_expert} and expert_feed_forward_length = {a.n_ff_exp}")
            if rest == "ffn_up.weight" and len(t.ne) == 2 and il < len(ffs) and ffs[il] and t.ne[1] != ffs[il] \
                    and il < a.n_layer_run and a.ffns[il] == "D":
                raise _tensor_shape_error(h, t, f"{arch}.feed_forward_length = {ffs[il]} (layer {il})")
        elif t.name in ("token_embd.weight", "output.weight") and len(t.ne) == 2:
            if t.ne[0] != a.n_embd:
                raise _tensor_shape_error(h, t, f"{arch}.embedding_length = {a.n_embd}")
            if t.ne[1] != a.n_vocab:
                raise _tensor_shape_error(h, t, f"the vocabulary has {a.n_vocab} tokens")
    if blocks and len(blocks) < a.n_layer_run:
        raise GgufError(f"gguf: {arch}.block_count says {a.n_layer} layers, the tensor table has "
                        f"{len(blocks)} in {h.name}")


def profile_from_header(h: GgufHeader, arch=None):
    """WeightProfile from the header's real tensor types and sizes (source "gguf")."""
    from vtt.cost.weights import profile_from_tensors

    a = arch if arch is not None else arch_from_header(h)
    rows = [(t.name, t.ne, float(t.n_bytes)) for t in h.tensors]
    return profile_from_tensors(rows, a, "gguf")
