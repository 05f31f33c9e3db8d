"""Model architecture: the hyper-parameters llama.cpp reads from a GGUF, as catalog data.

Per-layer structure is derived the way llama.cpp derives it (src/llama-model.cpp load_hparams):
sliding-window layers from `swa_pattern`, recurrent layers from `recurrent_interval`, or an
explicit `layer_pattern` string for irregular hybrids (Nemotron-H).
"""

from __future__ import annotations

from functools import cached_property

from vtt.specs.base import Field, Source, Spec, model_validator

# Mixer kinds per layer, one character each in `layer_pattern`.
MIXER_FULL = "A"  # full attention with a KV cache
MIXER_SWA = "S"  # sliding-window attention
MIXER_RECURRENT = "R"  # SSM / linear attention (Mamba2, gated DeltaNet): fixed-size state
MIXER_NONE = "-"  # no token mixer (an FFN-only block, Nemotron-H)
# FFN kinds per layer, one character each in `ffn_pattern`.
FFN_DENSE = "D"
FFN_MOE = "E"
FFN_NONE = "-"


class Mla(Spec):
    """Multi-head latent attention (DeepSeek-V2/V3, GLM-4.7-Flash): llama.cpp caches the latent."""

    kv_lora_rank: int = Field(gt=0, le=1 << 16)
    q_lora_rank: int = Field(default=0, ge=0, le=1 << 16)
    qk_rope_head_dim: int = Field(gt=0, le=1 << 16)
    qk_nope_head_dim: int = Field(gt=0, le=1 << 16)
    v_head_dim: int = Field(gt=0, le=1 << 16)


class Ssm(Spec):
    """Recurrent state dimensions (GGUF `{arch}.ssm.*`)."""

    d_conv: int = Field(gt=0, le=1024)
    d_inner: int = Field(gt=0, le=1 << 20)
    d_state: int = Field(gt=0, le=1 << 16)
    n_group: int = Field(default=1, ge=1, le=1 << 16)
    dt_rank: int = Field(default=0, ge=0, le=1 << 20)


# llama.cpp's DSV4_CSA_RATIO / DSV4_HCA_RATIO (src/llama-kv-cache-dsv4.h): the two compressed caches
CSA_RATIO = 4
HCA_RATIO = 128


class Compressed(Spec):
    """DeepSeek-V4 compressed attention, as llama.cpp caches it (src/llama-kv-cache-dsv4.cpp,
    llama_kv_cache_dsv4): every layer keeps a raw sliding window of K (no V: the compressed K is read
    as V too); a CSA layer (ratio 4) also one compressed K entry per 4 tokens plus a lightning-indexer
    key per entry, and attends the indexer's top-k entries; an HCA layer (ratio 128) one compressed K
    entry per 128 tokens, all attended. A layer of ratio 0 has the window only."""

    ratios: list[int] = Field(description="per layer run: 0 (window only), 4 (CSA) or 128 (HCA)")
    indexer_n_head: int = Field(gt=0, le=4096)
    indexer_head_dim: int = Field(gt=0, le=1 << 16)
    indexer_top_k: int = Field(gt=0, le=1 << 24)
    # the rest of the layer's shapes (models/deepseek4.cpp load_arch_tensors): Q through a low-rank
    # projection, the output through o_groups low-rank groups, hc_mult hyper-connection streams
    q_lora_rank: int = Field(gt=0, le=1 << 16)
    o_lora_rank: int = Field(gt=0, le=1 << 16)
    o_groups: int = Field(gt=0, le=1024)
    hc_mult: int = Field(default=4, gt=0, le=64)
    rope_dim: int = Field(gt=0, le=1 << 16)
    hash_layers: int = Field(default=0, ge=0, le=1024, description="leading layers routed by token id (ffn_gate_tid2eid)")


class KnownFile(Spec):
    """A published GGUF of this model: its quant label and size, so weights need no guessing."""

    quant: str
    size_gib: float = Field(gt=0, le=1e5, allow_inf_nan=False)
    file: str | None = None
    source: str | None = None


class Quality(Spec):
    """A published capability score (for the optimizer). Never invented: each has a source."""

    score: float
    benchmark: str
    source: str


class ModelArch(Spec):
    # Upper bounds match vtt.gguf.arch.BOUNDS: far past any real model, short of what would make
    # a prediction loop for minutes (n_layer 1e30) or overflow (n_vocab 1e300).
    id: str
    name: str
    family: str = Field(description="for leave-one-family-out validation, e.g. 'qwen3-moe'")
    arch: str = Field(description="GGUF general.architecture, e.g. llama, qwen3moe, deepseek2")
    aliases: list[str] = []
    n_layer: int = Field(gt=0, le=1024, description="GGUF block_count, including NextN/MTP layers")
    n_nextn_layer: int = Field(default=0, ge=0, le=64, description="MTP layers: no KV cache, not run per token")
    n_embd: int = Field(gt=0, le=1 << 17)
    n_vocab: int = Field(gt=0, le=1 << 23)
    n_ctx_train: int = Field(gt=0, le=1 << 28)
    n_head: int = Field(gt=0, le=4096)
    n_head_kv: int = Field(gt=0, le=4096)
    head_dim_k: int = Field(gt=0, le=1 << 16, description="K width per KV head as cached (MLA: kv_lora_rank + rope)")
    head_dim_v: int = Field(gt=0, le=1 << 16, description="V width per KV head as cached (MLA: kv_lora_rank)")
    head_dim_q: int | None = Field(default=None, gt=0, le=1 << 16, description="Q/K head dim for attention FLOPs if not head_dim_k")
    swa_window: int = Field(default=0, ge=0, le=1 << 28)
    # Per-layer-group geometry where sliding layers differ from full ones (Gemma 4: full 4 KV heads x
    # 512, sliding 16 x 256). Speed only: the attention kernel and its FLOPs per group.
    swa_head_dim: int | None = Field(default=None, gt=0, le=1 << 16, description="K/V/Q head width of sliding layers, if not head_dim_k")
    swa_n_head_kv: int | None = Field(default=None, gt=0, le=4096, description="KV heads of sliding layers, if not n_head_kv")
    swa_pattern: int = Field(default=0, ge=0, le=1024, description="layer il is SWA iff il % n < n-1")
    recurrent_interval: int = Field(default=0, ge=0, le=1024, description="layer il is recurrent iff (il+1) % n != 0")
    layer_pattern: str | None = Field(default=None, description="mixer per layer: A full, S swa, R recurrent, - none")
    ffn_pattern: str | None = Field(default=None, description="FFN per layer: D dense, E MoE, - none")
    mla: Mla | None = None
    ssm: Ssm | None = None
    compressed: Compressed | None = None
    n_ff: int = Field(default=0, ge=0, le=1 << 20, description="dense FFN width")
    n_dense_lead: int = Field(default=0, ge=0, le=1024, description="leading dense layers of an MoE (first_k_dense_replace)")
    n_expert: int = Field(default=0, ge=0, le=4096)
    n_expert_used: int = Field(default=0, ge=0, le=4096)
    n_ff_exp: int = Field(default=0, ge=0, le=1 << 20)
    n_expert_shared: int = Field(default=0, ge=0, le=256)
    n_ff_shexp: int = Field(default=0, ge=0, le=1 << 20)
    ffn_gated: bool = Field(default=True, description="SwiGLU/GeGLU (gate+up+down) vs plain up+down")
    tied_embeddings: bool = False
    # The ggml type llama.cpp's converter writes the routed experts in whatever the file type, so a
    # float (F16 / BF16 / F32) file of the model keeps them in it: gpt-oss's MXFP4 expert blocks are
    # repacked as they are (conversion/gpt_oss.py repack_mxfp4, raw_dtype MXFP4), and its "F16" GGUFs are
    # MXFP4 experts + F16 rest (vtt.cost.weights.tensor_type). Quantized file types are left to their
    # recipe: llama-quantize refuses to requantize an MXFP4 tensor without --allow-requantize
    # (src/llama-quant.cpp), so what a published Q4_K_M of such a model holds is the publisher's choice.
    expert_native_type: str | None = Field(default=None, pattern=r"^[a-z0-9_]{2,12}$",
                                           description="ggml type of the routed experts in every GGUF of the model")
    params_total_b: float | None = Field(default=None, gt=0, le=1e6, allow_inf_nan=False, description="published total, for cross-checks")
    params_active_b: float | None = Field(default=None, gt=0, le=1e6, allow_inf_nan=False)
    files: list[KnownFile] = []
    quality: list[Quality] = []
    released: str | None = None
    sources: list[Source] = []

    @model_validator(mode="after")
    def _check(self):
        n = self.n_layer - self.n_nextn_layer
        if n <= 0:
            raise ValueError("n_nextn_layer must be smaller than n_layer")
        for name in ("layer_pattern", "ffn_pattern"):
            pat = getattr(self, name)
            if pat is not None and len(pat) != n:
                raise ValueError(f"{name} has {len(pat)} entries for {n} layers")
        if self.layer_pattern and set(self.layer_pattern) - set("ASR-"):
            raise ValueError("layer_pattern may contain only A, S, R and -")
        if self.ffn_pattern and set(self.ffn_pattern) - set("DE-"):
            raise ValueError("ffn_pattern may contain only D, E and -")
        if self.n_expert and not (0 < self.n_expert_used <= self.n_expert and self.n_ff_exp > 0):
            raise ValueError("an MoE needs 0 < n_expert_used <= n_expert and n_ff_exp > 0")
        if "R" in self.mixers and self.ssm is None:
            raise ValueError("recurrent layers need an `ssm` block")
        if "S" in self.mixers and self.swa_window <= 0:
            raise ValueError("sliding-window layers need swa_window > 0")
        if self.compressed is not None:
            if len(self.compressed.ratios) != n:
                raise ValueError(f"compressed.ratios has {len(self.compressed.ratios)} entries for {n} layers")
            if set(self.compressed.ratios) - {0, CSA_RATIO, HCA_RATIO}:
                raise ValueError(f"compressed.ratios may contain only 0, {CSA_RATIO} and {HCA_RATIO}")
            if set(self.mixers) != {MIXER_SWA}:
                raise ValueError("compressed attention keeps a raw sliding window in every layer: layer_pattern all S")
        return self

    # ---- derived structure (what llama.cpp computes at load time) ----
    @property
    def n_layer_run(self) -> int:
        """Layers evaluated per token (NextN/MTP layers are not)."""
        return self.n_layer - self.n_nextn_layer

    @cached_property
    def mixers(self) -> str:
        n = self.n_layer_run
        if self.layer_pattern:
            return self.layer_pattern
        out = []
        for il in range(n):
            if self.recurrent_interval and (il + 1) % self.recurrent_interval != 0:
                out.append(MIXER_RECURRENT)
            elif self.swa_pattern and il % self.swa_pattern < self.swa_pattern - 1:
                out.append(MIXER_SWA)
            else:
                out.append(MIXER_FULL)
        return "".join(out)

    @cached_property
    def ffns(self) -> str:
        if self.ffn_pattern:
            return self.ffn_pattern
        if not self.n_expert:
            return FFN_DENSE * self.n_layer_run
        return FFN_DENSE * self.n_dense_lead + FFN_MOE * (self.n_layer_run - self.n_dense_lead)

    @property
    def is_moe(self) -> bool:
        return self.n_expert > 0

    @property
    def kinds(self) -> list[str]:
        """Architecture kinds for reports: dense/moe plus mla, swa, hybrid."""
        k = ["moe" if self.is_moe else "dense"]
        if self.mla:
            k.append("mla")
        if MIXER_SWA in self.mixers:
            k.append("swa")
        if MIXER_RECURRENT in self.mixers:
            k.append("hybrid")
        return k

    @property
    def kind(self) -> str:
        """One label: hybrid > mla > swa > moe > dense (the most telling trait)."""
        for k in ("hybrid", "mla", "swa"):
            if k in self.kinds:
                return k
        return self.kinds[0]
