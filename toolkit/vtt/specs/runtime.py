"""Runtime settings of one llama.cpp context (what llama-server / llama-bench are told)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vtt.specs.base import Spec

KvType = Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"]

# bytes per element of each KV cache type (ggml block size / bytes: quants.md section 3)
KV_TYPE_BYTES: dict[str, float] = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "iq4_nl": 18 / 32,
}


class Runtime(Spec):
    n_ctx: int = Field(default=4096, ge=1)
    type_k: KvType = "f16"
    type_v: KvType = "f16"
    flash_attn: bool = True
    n_batch: int = Field(default=2048, ge=1)
    n_ubatch: int = Field(default=512, ge=1)
    parallel: int = Field(default=1, ge=1, description="-np: parallel sequences (slots)")
    kv_unified: bool = False
    swa_full: bool = False
    mmap: bool = False
