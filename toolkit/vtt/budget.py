"""The memory budget the GPU may address on this machine, as llama.cpp sees it, read from sysfs.

On an AMD APU (Strix Halo) the GPU allocates from GTT: the kernel's TTM limit
(/sys/module/ttm/parameters/pages_limit, 4 KiB pages) caps every allocation, amdgpu's gttsize
(/sys/module/amdgpu/parameters/gttsize, MiB; -1 = the driver default) sizes the GTT domain, and each card
reports the result in /sys/class/drm/card*/device/mem_info_gtt_total (bytes). llama.cpp's Vulkan and HIP
backends report the GTT heap as device memory, so the smaller of the card's GTT and the TTM limit is what a
model may use. Probes never raise: a missing file is a missing key (pyperf's collect_* style).
"""

from __future__ import annotations

import os
from pathlib import Path

from vtt.units import GIB

PAGE_BYTES = 4096


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def read_gtt_limits(sys_root: str | Path = "/sys") -> dict:
    """{ttm_pages_limit_bytes, amdgpu_gttsize_bytes, gtt_total_bytes (largest card), vram_total_bytes}."""
    root = Path(sys_root)
    out: dict = {}
    pages = _read_int(root / "module/ttm/parameters/pages_limit")
    if pages and pages > 0:
        out["ttm_pages_limit_bytes"] = pages * PAGE_BYTES
    gtt = _read_int(root / "module/amdgpu/parameters/gttsize")
    if gtt and gtt > 0:
        out["amdgpu_gttsize_bytes"] = gtt * 1024 * 1024
    cards = sorted((root / "class/drm").glob("card*/device/mem_info_gtt_total")) if (root / "class/drm").is_dir() else []
    totals = [v for c in cards if (v := _read_int(c))]
    if totals:
        out["gtt_total_bytes"] = max(totals)
        vram = [v for c in cards if (v := _read_int(c.parent / "mem_info_vram_total"))]
        if vram:
            out["vram_total_bytes"] = max(vram)
    return out


def gpu_budget_bytes(limits: dict) -> int | None:
    """What llama.cpp can allocate on the GPU: the card's GTT, capped by the TTM limit."""
    gtt = limits.get("gtt_total_bytes") or limits.get("amdgpu_gttsize_bytes")
    if gtt is None:
        return None
    ttm = limits.get("ttm_pages_limit_bytes")
    return min(gtt, ttm) if ttm else gtt


def _installed_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError, AttributeError):
        return None


def resolve_budget(hw, budget_gib: float | None = None, *, sys_root: str | Path = "/sys",
                   installed_gib: float | None = None) -> tuple[float, str]:
    """(GiB the GPU may address, where it came from). `--budget-gib` wins; else this machine's GTT/TTM
    limits when vtt runs on the hardware asked about (unified memory, installed memory within 10% of the
    spec); else the spec's gpu_addressable_gib. Never more than the spec's memory."""
    if budget_gib is not None:
        return float(budget_gib), "--budget-gib"
    if hw.unified_memory:
        mem = installed_gib if installed_gib is not None else _installed_gib()
        if mem and abs(mem - hw.memory_gib) <= 0.1 * hw.memory_gib:
            b = gpu_budget_bytes(read_gtt_limits(sys_root))
            if b:
                return min(b / GIB, hw.memory_gib), "this machine (GTT/TTM limits from sysfs)"
    return float(hw.gpu_addressable_gib), f"hardware spec {hw.id} (gpu_addressable_gib)"
