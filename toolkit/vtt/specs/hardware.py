"""Hardware: memory the GPU may address, bandwidth, compute peaks."""

from __future__ import annotations

from pydantic import Field

from vtt.specs.base import Source, Spec


class Hardware(Spec):
    id: str
    name: str
    memory_gib: float = Field(gt=0, description="installed memory")
    gpu_addressable_gib: float = Field(
        gt=0,
        description="what the GPU may allocate: BIOS carve-out + GTT/TTM limit on UMA, VRAM on dGPU",
    )
    reserve_gib: float = Field(
        default=0.0, ge=0, description="kept free for the OS and other work, out of the addressable memory"
    )
    mem_bandwidth_gbs: float = Field(gt=0, description="theoretical peak, GB/s (1e9)")
    measured_bandwidth_gbs: float | None = Field(default=None, gt=0)
    fp16_tflops: float = Field(gt=0, description="dense FP16 peak")
    cpu_bandwidth_gbs: float | None = Field(default=None, gt=0, description="what the CPU backend can read")
    cpu_tflops: float | None = Field(default=None, gt=0, description="CPU FP32 FMA peak, for the CPU backend")
    disk_read_gbs: float = Field(default=3.0, gt=0, description="model load speed, GB/s")
    cpu: str | None = None
    gpu: str | None = None
    unified_memory: bool = False
    default_backend: str
    sources: list[Source] = []

    @property
    def budget_gib(self) -> float:
        return min(self.gpu_addressable_gib, self.memory_gib) - self.reserve_gib
