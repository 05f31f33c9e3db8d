"""Hardware: memory the GPU may address, bandwidth, compute peaks."""

from __future__ import annotations

from vtt.specs.base import Field, Source, Spec, model_validator


class Hardware(Spec):
    id: str
    name: str
    # Upper bounds: ~100x past the largest real machine (B200 ~8 TB/s, 2.3 PFLOPS FP16 dense),
    # so a typo or `.inf` cannot make every plan fit or every model instant.
    memory_gib: float = Field(gt=0, le=1_000_000, allow_inf_nan=False, description="installed memory")
    gpu_addressable_gib: float = Field(
        gt=0, le=1_000_000, allow_inf_nan=False,
        description="what the GPU may allocate: BIOS carve-out + GTT/TTM limit on UMA, VRAM on dGPU",
    )
    reserve_gib: float = Field(
        default=0.0, ge=0, allow_inf_nan=False, description="kept free for the OS and other work, out of the addressable memory"
    )
    mem_bandwidth_gbs: float = Field(gt=0, le=1_000_000, allow_inf_nan=False, description="theoretical peak, GB/s (1e9)")
    measured_bandwidth_gbs: float | None = Field(default=None, gt=0, le=1_000_000, allow_inf_nan=False)
    fp16_tflops: float = Field(gt=0, le=1_000_000, allow_inf_nan=False, description="dense FP16 peak")
    cpu_bandwidth_gbs: float | None = Field(default=None, gt=0, le=1_000_000, allow_inf_nan=False, description="what the CPU backend can read")
    cpu_tflops: float | None = Field(default=None, gt=0, le=1_000_000, allow_inf_nan=False, description="CPU FP32 FMA peak, for the CPU backend")
    disk_read_gbs: float = Field(default=3.0, gt=0, le=100_000, allow_inf_nan=False, description="model load speed, GB/s")
    cpu: str | None = None
    gpu: str | None = None
    unified_memory: bool = False
    default_backend: str
    sources: list[Source] = []

    @model_validator(mode="after")
    def _reserve_fits(self):
        if self.reserve_gib >= min(self.gpu_addressable_gib, self.memory_gib):
            raise ValueError("reserve_gib must be smaller than the addressable memory")
        if self.measured_bandwidth_gbs and self.measured_bandwidth_gbs > self.mem_bandwidth_gbs * 1.05:
            raise ValueError("measured_bandwidth_gbs is above the theoretical mem_bandwidth_gbs")
        return self

    @property
    def budget_gib(self) -> float:
        return min(self.gpu_addressable_gib, self.memory_gib) - self.reserve_gib
