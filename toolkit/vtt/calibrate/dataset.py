"""Measured llama-bench rows -> the cost model's features, ready to fit or to score.

A row is a plain dict (from DuckDB, a CSV or llama-bench JSON) with at least: model (name or
file name), n_prompt, n_gen, n_depth, and pp_tps or tg_tps (or avg_ts). Optional: quant,
file_size_gib (llama-bench's model size: makes weights exact), flash_attn, n_ubatch,
type_k, type_v.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from vtt.cost.predict import ResolvedModel, speed_features
from vtt.cost.throughput import SpeedFeatures
from vtt.errors import VttError
from vtt.specs.catalog import World
from vtt.specs.hardware import Hardware
from vtt.units import GIB


def _num(v, default=None):
    if v is None or v == "":
        return default
    if isinstance(v, (int, float)):
        return v if not (isinstance(v, float) and math.isnan(v)) else default
    m = re.match(r"\s*(-?\d+(\.\d+)?)", str(v))
    return float(m.group(1)) if m else default


@dataclass
class Dataset:
    rows: list[dict]  # the rows kept, with 'test' = 'pp' or 'tg' and 'measured_tps'
    features: SpeedFeatures
    resolved: list[ResolvedModel]
    skipped: list[tuple[dict, str]] = field(default_factory=list)

    @property
    def is_tg(self) -> np.ndarray:
        return np.array([r["test"] == "tg" for r in self.rows], dtype=bool)

    @property
    def measured(self) -> np.ndarray:
        return np.array([r["measured_tps"] for r in self.rows], dtype=float)


MAX_SAMPLE_SPREAD = 0.10  # stdev / mean of a row's repetitions above which it is not fitted


def sample_spread(samples_ns) -> float | None:
    """stdev / mean of a llama-bench row's repetition times, or None without >= 2 samples."""
    xs = [float(x) for x in (samples_ns or []) if x]
    if len(xs) < 2:
        return None
    return float(np.std(xs, ddof=1) / np.mean(xs))


def _concat(feats: list[SpeedFeatures]) -> SpeedFeatures:
    names = SpeedFeatures.__dataclass_fields__
    def cat(k):
        parts = [getattr(f, k) for f in feats]
        if all(x is None for x in parts):
            return None
        return np.concatenate([np.zeros(len(f)) if x is None else x for f, x in zip(feats, parts)])

    return SpeedFeatures(**{k: cat(k) for k in names})


def build_dataset(rows: list[dict], world: World, hw: Hardware, cpu_backend: bool = False, backend=None) -> Dataset:
    """Resolve each row's model (catalog + quant, weights scaled to the measured file size)."""
    from vtt.plan import resolve_model

    if cpu_backend:
        hw = hw.model_copy(update={"mem_bandwidth_gbs": hw.cpu_bandwidth_gbs or hw.mem_bandwidth_gbs,
                                   "fp16_tflops": hw.cpu_tflops or hw.fp16_tflops / 20})
    kept, feats, resolved, skipped = [], [], [], []
    cache: dict = {}
    for r in rows:
        n_prompt = int(_num(r.get("n_prompt"), 0))
        n_gen = int(_num(r.get("n_gen"), 0))
        tps = _num(r.get("tg_tps")) if n_gen and not n_prompt else _num(r.get("pp_tps"))
        tps = tps if tps is not None else _num(r.get("avg_ts"))
        if not tps or tps <= 0 or (n_prompt and n_gen) or not (n_prompt or n_gen):
            skipped.append((r, "not a pure pp or tg test with a speed"))
            continue
        cv = sample_spread(r.get("samples_ns"))
        if cv is not None and cv > MAX_SAMPLE_SPREAD:
            # pyperf's rule: a spread this large says the machine was not steady (a GPU still
            # ramping its clocks, another process); the mean describes no state worth fitting.
            skipped.append((r, f"unstable: samples spread {cv:.0%} of their mean (> {MAX_SAMPLE_SPREAD:.0%}); "
                               "rerun with more repetitions (-r) or a warm-up"))
            continue
        size = _num(r.get("file_size_gib"))
        if size is None and _num(r.get("model_size")):
            size = _num(r.get("model_size")) / GIB
        key = (r.get("model"), r.get("quant"), size)
        if key not in cache:
            try:
                cache[key] = resolve_model(world, str(r.get("model")), _quant_or_none(world, r.get("quant")), size)
            except VttError as e:
                cache[key] = e
        rm = cache[key]
        if isinstance(rm, VttError):
            skipped.append((r, rm.message))
            continue
        depth = int(_num(r.get("n_depth"), 0))
        q = {
            "context": np.array([n_prompt + n_gen + depth]),
            "depth": np.array([depth]),
            "n_prompt": np.array([n_prompt]),
            "n_gen": np.array([n_gen]),
            "n_ubatch": np.array([int(_num(r.get("n_ubatch"), 512))]),
            "parallel": np.array([1]),
            "flash_attn": np.array([bool(_num(r.get("flash_attn"), 0) == 1)]),
            "type_k": [str(r.get("type_k") or "f16")],
            "type_v": [str(r.get("type_v") or "f16")],
            "mla_v_less": bool(r.get("mla_v_less", False)),  # llama.cpp >= PR #19067 (see cost.memory)
            "build": [r.get("build")],
            "hipblaslt": [r.get("hipblaslt")],  # ROCBLAS_USE_HIPBLASLT (vtt.cost.gemm)
            "rocwmma": [r.get("rocwmma")],  # a HIP build with GGML_HIP_ROCWMMA_FATTN (vtt.cost.attention)
        }
        feats.append(speed_features(rm, hw, q, backend))
        resolved.append(rm)
        kept.append({**r, "test": "tg" if n_gen else "pp", "measured_tps": float(tps),
                     "model_id": rm.arch.id, "family": rm.arch.family, "kind": rm.arch.kind, "n_depth": depth})
    if not kept:
        raise VttError("no usable measurements: none resolved to a catalog model with a pp or tg speed",
                       hint=(skipped[0][1] if skipped else None))
    return Dataset(kept, _concat(feats), resolved, skipped)


def _quant_or_none(world: World, q) -> str | None:
    if not q:
        return None
    q = str(q).split(" ")[0]
    return q if world.find_quant(q) else None
