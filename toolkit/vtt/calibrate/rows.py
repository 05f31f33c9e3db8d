"""Measured rows from their sources (the public CSV, the DuckDB store) in one plain-dict shape.

The shape is what `vtt.calibrate.dataset.build_dataset` reads (model, quant, file_size_gib,
n_prompt, n_gen, n_depth, pp_tps/tg_tps, flash_attn, n_ubatch, type_k, type_v) plus
`backend`, `build` (llama.cpp build number, or None) and `era`.

Backend mapping of the public CSV: its `hip` rows are lhl's July/August 2025 HIP builds
(b5863..b6118, ROCm 6.4 / TheRock 7 nightlies, hipBLASLt and rocWMMA toggled). They are the
same llama.cpp backend as `rocm`, so they map to `rocm`, but to the era "2025": their prompt
speeds differ by up to 3x from the 2026 ROCm 7 toolboxes (hipBLASLt off by default,
FA-without-rocWMMA), so they are never pooled with 2026 rows. AMDVLK has the same split
(pp fell ~4x between the 2025 and 2026 builds: the 32 KB shared-memory regression).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from vtt.errors import BadQuery

# llama.cpp builds below this number are 2025 (b6118 = Aug 2025, b7938 = Feb 2026).
ERA_SPLIT_BUILD = 7000
CSV_BACKENDS = {"hip": "rocm", "rocm": "rocm", "vulkan-radv": "vulkan-radv", "vulkan-amdvlk": "vulkan-amdvlk"}

# Builds that are not llama.cpp's own, by the toolbox a row names. kyuz0's experimental toolboxes
# track forks or apply draft PRs, and a fork's build counter is not a llama.cpp build number (kyuz0
# README, "Experimental / Custom Toolboxes"). Beside the stock toolbox of the same week, model and
# settings they prompt up to 1.8x apart at depth (Qwen3.6-27B Q8 pp2048 at 57K: vulkan-radv-performance
# 1.8x; Qwen3.6-35B-A3B at 32-57K: rocm-7.14-pr26592 0.8-0.85x) and decode alike. They stay in the
# store, named by `variant`, and are not fitted into calibrations of llama.cpp (select_rows).
VARIANTS = {
    "vulkan-radv-performance": "fork Nathanw1014/llama.cpp strix-halo-vulkan",
    "rocm-7.14-performance": "fork gaetan-puleo/llama-cpp-strix-halo",
    "pr26592": "llama.cpp with draft PR #26592 (hipCUB ARGSORT / TOP_K)",
    "rocmfpx": "fork charlie12345/ROCmFPX",
    "turboquant": "TurboQuant fork",
}


def parse_build(text) -> int | None:
    """'b9193 (1a68ec937)' -> 9193; 'kyuz0 rocm-7.2 toolbox, b8038' -> 8038; 'b0 (unknown)' -> None."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        return int(text) or None
    m = re.search(r"\bb(\d+)\b", str(text))
    return (int(m.group(1)) or None) if m else None


def era_of(build: int | None, date: str | None = None) -> str:
    """'2025' or '2026': by build number, else by the source date."""
    if build is not None:
        return "2025" if build < ERA_SPLIT_BUILD else "2026"
    return "2025" if (date or "2026")[:4] <= "2025" else "2026"


def _ubatch(v) -> int:
    m = re.match(r"\s*(\d+)", str(v or ""))
    return int(m.group(1)) if m else 512


def csv_rows(path: str | Path) -> list[dict]:
    """Rows of the public calibration CSV (schema: strix_halo_facts.md section 6), normalised."""
    p = Path(path)
    if not p.is_file():
        raise BadQuery(f"no such CSV: {p}")
    with p.open(newline="") as fh:
        raw = list(csv.DictReader(fh))
    out = []
    for r in raw:
        build = parse_build(r.get("llama_cpp_build"))
        out.append({  # noqa: the CSV's own columns stay (source_url, notes, backend_detail ...)
            **r,
            "csv_backend": r.get("backend"),
            "backend": CSV_BACKENDS.get(r.get("backend") or "", r.get("backend")),
            "build": build,
            "era": era_of(build, r.get("source_date")),
            "n_ubatch": _ubatch(r.get("n_ubatch")),
            "quant": (r.get("quant") or "").split(" ")[0] or None,
            "source": _source_of(r.get("source_url")),
            "hipblaslt": hipblaslt_of(r.get("backend_detail"), r.get("backend")),
            "rocwmma": rocwmma_of(r.get("backend_detail")),
            "variant": variant_of(r.get("backend_detail")),
        })
    return out


def variant_of(detail) -> str | None:
    """The non-llama.cpp build a row's backend detail names (VARIANTS), or None for llama.cpp's own."""
    text = str(detail or "").lower()
    return next((v for k, v in VARIANTS.items() if k in text), None)


def rocwmma_of(detail) -> bool | None:
    """A HIP build with GGML_HIP_ROCWMMA_FATTN, as a row's backend detail states it (None: not said)."""
    text = str(detail or "").lower()
    if "without rocwmma" in text or "-without-rocwmma" in text or "rocwmma off" in text:
        return False
    return True if "rocwmma" in text else None


def _hipblaslt_env(env: dict) -> bool | None:
    """ROCBLAS_USE_HIPBLASLT as vtt's harness recorded it (vtt.harness.fingerprint.kernel_env)."""
    v = env.get("ROCBLAS_USE_HIPBLASLT")
    return None if v is None else str(v).strip() not in ("", "0")


def hipblaslt_of(detail, csv_backend=None) -> bool | None:
    """ROCBLAS_USE_HIPBLASLT as a row's backend detail states it: True (=1, or a toolbox that ships
    it), False (=0 / 'hipBLASLt OFF'), None (not stated: unknown). `csv_backend` is the shared CSV's
    backend column (ingested rows keep it as `backends`): lhl's `hip` rows name the variable where it
    was set, so unnamed there it was not (vtt.cost.gemm)."""
    text = str(detail or "")
    if "ROCBLAS_USE_HIPBLASLT=0" in text or "hipBLASLt OFF" in text:
        return False
    if "ROCBLAS_USE_HIPBLASLT=1" in text:
        return True
    return False if csv_backend == "hip" else None


def _source_of(url) -> str:
    """The publisher of a row: the GitHub owner of its URL (kyuz0, lhl ...)."""
    parts = str(url or "").split("/")
    return parts[3] if len(parts) > 3 else ""


def _store_backend(row: dict) -> str | None:
    be = row.get("run_backend") or row.get("backend")
    if be:
        return CSV_BACKENDS.get(be, be)
    txt = str(row.get("backends") or "").lower()
    if txt in CSV_BACKENDS:  # an ingested community CSV keeps its backend name here
        return CSV_BACKENDS[txt]
    if "amdvlk" in txt:
        return "vulkan-amdvlk"
    return "rocm" if ("rocm" in txt or "hip" in txt) else ("vulkan-radv" if "vulkan" in txt else None)


def store_rows(results: list[dict]) -> list[dict]:
    """Rows from `vtt.store.results(...)` (llama-bench records) in the same shape as csv_rows."""
    out = []
    for r in results:
        extra = r.get("extra") or {}
        build = parse_build(r.get("build_number"))
        name = str(r.get("model_filename") or extra.get("model") or "")
        n_gen, n_prompt = int(r.get("n_gen") or 0), int(r.get("n_prompt") or 0)
        ts = r.get("avg_ts")
        out.append({
            **extra, **r,
            "model": Path(name).name if name else extra.get("model"),
            "quant": extra.get("quant"),
            "file_size_gib": (r["model_size"] / 2**30) if r.get("model_size") else extra.get("file_size_gib"),
            "pp_tps": ts if n_prompt and not n_gen else None,
            "tg_tps": ts if n_gen and not n_prompt else None,
            "backend": _store_backend(r),
            "build": build,
            "llama_cpp_build": f"b{build}" if build else extra.get("llama_cpp_build"),
            "era": era_of(build, str(extra.get("source_date") or r.get("test_time") or "")),
            "n_ubatch": int(r.get("n_ubatch") or 512),
            "source": _source_of(extra.get("source_url")) or r.get("label") or "store",
            "mem_peak_mib": extra.get("mem_peak_mib"),
            "hipblaslt": _hipblaslt_env(extra.get("kernel_env")) if isinstance(extra.get("kernel_env"), dict)
            else extra.get("hipblaslt", hipblaslt_of(extra.get("backend_detail"), r.get("backends") or extra.get("backends"))),
            "rocwmma": extra.get("rocwmma", rocwmma_of(extra.get("backend_detail"))),
            "variant": extra.get("variant", variant_of(extra.get("backend_detail"))),
        })
    return out


def select_rows(rows: list[dict], backend: str | None = None, since: int | None = None,
                era: str | None = None, variants: bool = False) -> list[dict]:
    """Rows of one backend, from build `since` on (rows without a build number: by era); rows of
    forks and patched builds (VARIANTS) only with `variants`."""
    out = []
    for r in rows:
        if backend and r.get("backend") != backend:
            continue
        if r.get("variant") and not variants:
            continue
        if era and r.get("era") != era:
            continue
        if since is not None:
            b = r.get("build")
            if (b is None and r.get("era") == "2025") or (b is not None and b < since):
                continue
        out.append(r)
    return out


def build_range(rows: list[dict]) -> str | None:
    """'b7938 .. b10273' over the rows' build numbers."""
    bs = sorted({r["build"] for r in rows if r.get("build")})
    return f"b{bs[0]} .. b{bs[-1]}" if bs else None
