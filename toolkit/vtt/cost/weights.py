"""Weight bytes: per tensor, from a GGUF header's real types or from a file type's mix.

The mix follows llama.cpp's `llama_tensor_get_type` (src/llama-quant.cpp; summarised in
validation/data/reference/quants.md section 2.3) for the tensors that dominate size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vtt import ggml_types
from vtt.cost.tensors import TensorShape, tensor_shapes
from vtt.specs.model_arch import ModelArch
from vtt.specs.quant import FileType

_NEVER_QUANTIZED = ("_norm", "ffn_gate_inp", "ssm_conv1d", "ssm_a", "ssm_d", "attn_sinks", ".bias", "pos_embd")
_FALLBACK = {  # when ne0 is not a multiple of the block size (quants.md 2.3)
    "q2_K": "q4_0", "q3_K": "q4_0", "tq1_0": "q4_0", "tq2_0": "q4_0",
    "q4_K": "q5_0", "q5_K": "q5_1", "q6_K": "q8_0",
}


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _bumped(recipe: str, name: str, il: int, n: int, a: ModelArch) -> str | None:
    """The per-tensor override of llama-quant for `recipe`, or None to keep the base type."""
    gqa = a.n_head // max(a.n_head_kv, 1)
    if name.endswith("attn_v.weight"):
        if a.n_expert == 8:
            return "q8_0"
        if recipe == "Q2_K":
            return "q4_K" if gqa >= 4 else "q3_K"
        if recipe == "Q3_K_M":
            return "q5_K" if il < 2 else "q4_K"
        if recipe == "Q3_K_L":
            return "q5_K"
        if recipe in ("Q4_K_M", "Q5_K_M") and _use_more_bits(il, n):
            return "q6_K"
        if recipe == "Q4_K_S" and il < 4:
            return "q5_K"
        if recipe in ("IQ4_NL", "IQ4_XS") and gqa >= 4:
            return "q5_K"
    elif name.endswith("attn_k.weight") and a.n_expert == 8:
        return "q8_0"
    elif "ffn_down" in name:
        if recipe == "Q2_K":
            return "q3_K"
        if recipe == "Q3_K_M":
            return "q5_K" if il < n // 16 else "q4_K"
        if recipe == "Q3_K_L":
            return "q5_K"
        if recipe in ("Q4_K_M", "Q5_K_M") and _use_more_bits(il, n):
            return "q6_K"
        if recipe == "Q4_K_S" and il < n // 8:
            return "q5_K"
    elif name.endswith("attn_output.weight"):
        return {"Q2_K": "q3_K", "Q3_K_M": "q4_K", "Q3_K_L": "q5_K", "IQ3_M": "q4_K"}.get(recipe)
    return None


def tensor_type(ft: FileType, t: TensorShape, a: ModelArch) -> str:
    """The ggml type llama-quantize would give tensor `t` under file type `ft`."""
    if len(t.ne) < 2 or any(s in t.name for s in _NEVER_QUANTIZED):
        return "f32"
    recipe = ft.recipe or ft.id
    is_output = t.name == "output.weight" or (a.tied_embeddings and t.name == "token_embd.weight")
    if ft.expert_type:  # MXFP4_MOE: experts in MXFP4, everything else Q8_0
        typ = ft.expert_type if t.is_expert else (ft.other_type or "q8_0")
    elif a.expert_native_type and t.is_expert and ft.family == "f16":  # converted as stored (ModelArch)
        typ = a.expert_native_type
    elif ft.family == "f16" or recipe == "Q8_0":
        typ = ft.base
    elif is_output:
        typ = "q5_K" if recipe.startswith(("IQ1", "IQ2")) else "q6_K"
    elif t.name == "token_embd.weight":
        typ = {"IQ2_XXS": "q2_K", "IQ2_XS": "q2_K", "IQ1_S": "q2_K", "IQ1_M": "q2_K",
               "IQ2_S": "iq3_s", "IQ2_M": "iq3_s", "IQ3_XXS": "iq3_s"}.get(recipe, ft.base)
    else:
        typ = _bumped(recipe, t.name, max(t.layer, 0), a.n_layer, a) or ft.base
    blk = ggml_types.block_size(typ)
    if t.ne[0] % blk:
        typ = _FALLBACK.get(typ, "iq4_nl" if typ.startswith("iq") else "q8_0")
        if t.ne[0] % ggml_types.block_size(typ):
            typ = "f16"
    return typ


@dataclass(frozen=True)
class WeightProfile:
    """What the cost model needs to know about a model's weights."""

    total_bytes: float  # the whole file's tensor data
    decode_bytes: float  # read per generated token: all but gathered embeddings, experts scaled to used/total
    expert_bytes: float  # routed-expert tensors (all experts)
    params_total: float
    params_matmul_active: float  # matmul weights touched per token (FLOPs = 2 x this)
    source: str  # "gguf", "catalog-file", "mix", "file-size"
    # Bytes a published file holds beyond its quant recipe, placed on tensors nobody told us:
    # Unsloth dynamic (UD-*) files upcast "important" tensors, mostly ones read on every token.
    # How many of them a token reads is a calibrated speed parameter (unplaced_read).
    unplaced_bytes: float = 0.0

    def scaled_to(self, total_bytes: float, source: str) -> WeightProfile:
        """Rescaled to a known total (a published file size). A smaller file is the recipe with
        every tensor smaller in proportion; a larger one keeps the recipe and carries the rest as
        `unplaced_bytes`."""
        if total_bytes > self.total_bytes:
            return WeightProfile(total_bytes, self.decode_bytes, self.expert_bytes, self.params_total,
                                 self.params_matmul_active, source, total_bytes - self.total_bytes)
        k = total_bytes / self.total_bytes
        return WeightProfile(
            total_bytes, self.decode_bytes * k, self.expert_bytes * k, self.params_total,
            self.params_matmul_active, source,
        )


def profile_from_tensors(
    tensors: list[tuple[str, tuple[int, ...], float]], a: ModelArch, source: str
) -> WeightProfile:
    """`tensors`: (name, ne, bytes) for every tensor. MTP layers are stored but not run per token."""
    used_frac = (a.n_expert_used / a.n_expert) if a.n_expert else 1.0
    total = decode = expert = params = active = 0.0
    n_run = a.n_layer_run
    for name, ne, nbytes in tensors:
        n = math.prod(ne)
        total += nbytes
        params += n
        if name.startswith("blk."):
            try:
                if int(name.split(".")[1]) >= n_run:
                    continue  # MTP/NextN block
            except ValueError:
                pass
        if name == "token_embd.weight" and not a.tied_embeddings:
            decode += nbytes / max(ne[-1], 1)  # one row gathered per token
            continue
        frac = used_frac if "_exps" in name else 1.0
        if "_exps" in name:
            expert += nbytes
        decode += nbytes * frac
        if len(ne) >= 2:
            active += n * frac
    return WeightProfile(total, decode, expert, params, active, source)


_MIX_ROWS: dict = {}


def mix_rows(a: ModelArch, ft: FileType) -> list[tuple[str, tuple[int, ...], float]]:
    """(name, ne, bytes) of every tensor under the file type's mix. Memoised per (arch, file type) object:
    the walk (~20 ms for a 92-layer MoE) is shared by the weight profile and a split's per-device layers
    (vtt.plan_split.model_tensors), so `vtt plan --boxes N` pays for it once."""
    key = (id(a), id(ft))
    hit = _MIX_ROWS.get(key)
    if hit is None or hit[0] is not a or hit[1] is not ft:
        rows = []
        for t in tensor_shapes(a):
            typ = tensor_type(ft, t, a)
            rows.append((t.name, t.ne, ggml_types.tensor_bytes(typ, t.ne) * (ft.bpw_scale if len(t.ne) >= 2 else 1.0)))
        if len(_MIX_ROWS) > 1024:
            _MIX_ROWS.clear()
        hit = _MIX_ROWS[key] = (a, ft, rows)
    return hit[2]


def profile_from_mix(a: ModelArch, ft: FileType) -> WeightProfile:
    return profile_from_tensors(mix_rows(a, ft), a, "mix")
