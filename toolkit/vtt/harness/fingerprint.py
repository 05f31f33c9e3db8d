"""Machine fingerprint, pyperf style: each probe fills keys of one flat dict and never raises.

A missing file or tool is a missing key, not a failed run.
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip()
    except OSError:
        return None


def _run(cmd: list[str], timeout_s: float = 10.0, env: dict | None = None) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              env=(os.environ | env) if env else None)
    except (OSError, subprocess.SubprocessError):
        return None
    return (proc.stdout + proc.stderr).strip() if proc.returncode == 0 else None


def collect_system(meta: dict) -> None:
    uname = platform.uname()
    meta["os"] = uname.system
    meta["kernel"] = uname.release
    meta["arch"] = uname.machine
    meta["hostname"] = uname.node
    meta["python"] = platform.python_version()
    release = _read("/etc/os-release") or ""
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)', release, re.M)
    if m:
        meta["os_release"] = m.group(1)


def collect_cpu(meta: dict) -> None:
    meta["cpu_count"] = os.cpu_count()
    info = _read("/proc/cpuinfo") or ""
    m = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    if m:
        meta["cpu_model"] = m.group(1).strip()
    cores = {(p, c) for p, c in re.findall(r"physical id\s*:\s*(\d+).*?core id\s*:\s*(\d+)", info, re.S)}
    if cores:
        meta["cpu_cores"] = len(cores)
    try:
        meta["cpu_affinity"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass


def collect_memory(meta: dict) -> None:
    m = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo") or "", re.M)
    if m:
        meta["mem_total_bytes"] = int(m.group(1)) * 1024


def collect_gpu(meta: dict) -> None:
    """DRM devices (vendor ids, VRAM/GTT totals), amdgpu/ttm limits, Mesa via vulkaninfo."""
    devices = []
    for dev in sorted(glob.glob("/sys/class/drm/card[0-9]*/device")):
        if re.search(r"card\d+-", dev):
            continue
        d = {"card": Path(dev).parent.name, "vendor": _read(f"{dev}/vendor"), "device": _read(f"{dev}/device")}
        for key in ("mem_info_vram_total", "mem_info_gtt_total"):
            value = _read(f"{dev}/{key}")
            if value and value.isdigit():
                d[f"{key}_bytes"] = int(value)
        driver = os.path.realpath(f"{dev}/driver")
        if driver != f"{dev}/driver":
            d["driver"] = Path(driver).name
        devices.append(d)
    if devices:
        meta["drm_devices"] = devices
    for key, path in (("amdgpu_gttsize", "/sys/module/amdgpu/parameters/gttsize"),
                      ("ttm_pages_limit", "/sys/module/ttm/parameters/pages_limit"),
                      ("amdgpu_version", "/sys/module/amdgpu/version")):
        value = _read(path)
        if value is not None:
            meta[key] = value
    nvidia = _read("/proc/driver/nvidia/version")
    if nvidia:
        meta["nvidia_driver"] = nvidia.splitlines()[0]
    if shutil.which("vulkaninfo"):
        summary = _run(["vulkaninfo", "--summary"])
        if summary:
            meta["vulkan_devices"] = sorted(set(re.findall(r"deviceName\s*=\s*(.*)", summary)))
            meta["vulkan_drivers"] = sorted(set(re.findall(r"driverInfo\s*=\s*(.*)", summary)))


def collect_llama_bench(meta: dict, llama_bench: str | None, env: dict | None = None) -> None:
    if not llama_bench:
        return
    from vtt.harness.locate import read_version

    version = read_version(Path(llama_bench))
    if version:
        meta["llama_bench_version"] = version
    devices = _run([llama_bench, "--list-devices"], env=env)
    if devices:
        meta["llama_bench_devices"] = [ln.strip() for ln in devices.splitlines()
                                       if ln.strip() and not ln.startswith("Available")]


# Environment variables that change which kernels llama.cpp runs (ROCBLAS_USE_HIPBLASLT: rocBLAS's
# GEMMs on hipBLASLt, 3-5x on gfx1151 in 2025 builds, vtt.cost.gemm); recorded with the fingerprint and
# on every result, as pyperf records the environment a benchmark ran in.
KERNEL_ENV = ("ROCBLAS_USE_HIPBLASLT", "GGML_CUDA_FORCE_MMQ", "GGML_CUDA_FORCE_CUBLAS", "GGML_VK_DISABLE_COOPMAT",
              "GGML_VK_DISABLE_COOPMAT2", "GGML_VK_DISABLE_INTEGER_DOT_PRODUCT", "GGML_VK_DISABLE_F16",
              "RADV_PERFTEST", "AMD_VULKAN_ICD")


def kernel_env(env: dict | None = None) -> dict[str, str]:
    """The KERNEL_ENV variables a child started with `env` added to ours sees."""
    seen = os.environ | (env or {})
    return {k: str(seen[k]) for k in KERNEL_ENV if k in seen}


def collect_fingerprint(llama_bench: str | None = None, env: dict | None = None) -> dict:
    """Everything we know about this machine and its llama.cpp build; probes never raise."""
    from vtt import __version__
    from vtt.harness.locate import build_identity

    meta: dict = {"vtt_version": __version__}
    for probe in (collect_system, collect_cpu, collect_memory, collect_gpu):
        try:
            probe(meta)
        except Exception as e:  # a probe must never break a run; record why it gave nothing
            meta.setdefault("probe_errors", []).append(f"{probe.__name__}: {e}")
    try:
        collect_llama_bench(meta, llama_bench, env)
    except Exception as e:
        meta.setdefault("probe_errors", []).append(f"collect_llama_bench: {e}")
    meta["llama_cpp_source"] = build_identity()
    if kernel_env(env):
        meta["kernel_env"] = kernel_env(env)
    return meta


def vram_used_paths() -> dict[str, list[str]]:
    """sysfs counters sampled during a cell (AMD GPUs expose these)."""
    return {kind: sorted(glob.glob(f"/sys/class/drm/card[0-9]*/device/mem_info_{kind}_used"))
            for kind in ("vram", "gtt")}
