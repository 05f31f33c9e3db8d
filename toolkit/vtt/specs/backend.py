"""Backends (llama.cpp builds: Vulkan RADV, AMDVLK, ROCm, CPU ...) and their physics defaults."""

from __future__ import annotations

from vtt.specs.base import Field, Source, Spec


class Device(Spec):
    """What llama.cpp's flash-attention dispatch reads from the device (vtt.cost.attention)."""

    shared_mem_bytes: int = Field(default=32768, gt=0, description="maxComputeSharedMemorySize / LDS per workgroup")
    coopmat: str = Field(default="none", description="Vulkan cooperative matrices: none, khr (coopmat1), nv2 (coopmat2)")
    matrix_cores: str = Field(default="none", description="HIP/CUDA matrix instructions: none, wmma, mfma, mma")
    wave_size: int = Field(default=32, gt=0, description="subgroup / wavefront width")


class Backend(Spec):
    id: str
    name: str
    api: str = Field(description="vulkan, rocm, cuda, cpu, metal")
    llama_bench_backends: list[str] = Field(
        default_factory=list, description="values of llama-bench's `backends` field that mean this backend"
    )
    # Uncalibrated physics defaults; a fitted Calibration replaces them.
    defaults: dict[str, float] = Field(default_factory=dict)
    prior_scale: float = Field(
        default=1.0, gt=0, description="how loosely a calibration holds the defaults (wider for guessed defaults)"
    )
    compute_overhead_gib: float = Field(
        default=0.25, ge=0, description="driver/runtime memory not in llama.cpp's buffers"
    )
    device: Device = Field(default_factory=Device, description="inputs of the FA kernel-path rule")
    notes: str | None = None
    sources: list[Source] = []
