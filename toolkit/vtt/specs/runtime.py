"""Runtime profiles: how llama.cpp is started (llama-server / llama-bench flags that change cost).

A profile gives defaults to `vtt plan` queries (`--runtime ID`); a query's own keys win.
"""

from __future__ import annotations

from typing import Literal

from vtt.specs.base import Field, Spec

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

# The PlanQuery keys a runtime profile may set.
RUNTIME_KEYS = ("type_k", "type_v", "flash_attn", "n_ubatch", "parallel", "kv_unified", "swa_full", "mla_v_less",
                "hipblaslt")


class Runtime(Spec):
    id: str
    name: str
    type_k: KvType = "f16"
    type_v: KvType = "f16"
    flash_attn: bool = True
    n_batch: int = Field(default=2048, ge=1)
    n_ubatch: int = Field(default=512, ge=1)
    parallel: int = Field(default=1, ge=1, description="-np: parallel sequences (slots)")
    kv_unified: bool = Field(default=False, description="--kv-unified: one KV stream shared by all slots")
    swa_full: bool = Field(default=False, description="--swa-full: full-size cache for sliding-window layers")
    mla_v_less: bool = Field(default=True, description="llama.cpp >= PR #19067 (2026-01-24): MLA caches K only (false: the older K+V layout)")
    mmap: bool = False
    hipblaslt: bool | None = Field(default=None, description="ROCBLAS_USE_HIPBLASLT=1 in the environment (HIP; null: unset)")
    flags: str | None = Field(default=None, description="the llama-server flags this profile stands for")
    notes: str | None = None

    def query_defaults(self) -> dict:
        return {k: getattr(self, k) for k in RUNTIME_KEYS if getattr(self, k) is not None}
