"""Backends (llama.cpp builds: Vulkan RADV, AMDVLK, ROCm, CPU ...) and their physics defaults."""

from __future__ import annotations

from pydantic import Field

from vtt.specs.base import Source, Spec


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
    notes: str | None = None
    sources: list[Source] = []
