"""`vtt plan`: validate queries, resolve models (catalog, file name, local .gguf, URL), predict.

The edge between the pure cost model and the world: GGUF reads happen here. Queries are
grouped by what they resolve to, so a batch of 10,000 is a few vectorised evaluations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vtt.calibrate.calibration import Calibration, find_calibration
from vtt.cost.predict import ResolvedModel, memory_breakdown, predict_speed, speed_features
from vtt.cost.weights import profile_from_mix
from vtt.errors import BadQuery, GgufError, VttError
from vtt.specs.catalog import World, default_world, norm
from vtt.specs.names import looks_like_gguf, split_name
from vtt.specs.runtime import KV_TYPE_BYTES
from vtt.units import GIB

class PlanQuery(BaseModel):
    """One what-if question: a model at a quant and context, on a hardware x backend."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    quant: str | None = None
    context: int = Field(default=4096, gt=0, le=1 << 30)  # bounds: no C-long overflow, no hang
    depth: int = Field(default=0, ge=0, le=1 << 30)
    n_prompt: int = Field(default=512, ge=1, le=1 << 30)
    n_gen: int = Field(default=128, ge=1, le=1 << 30)
    hardware: str | None = None
    backend: str | None = None
    flash_attn: bool = True
    n_ubatch: int = Field(default=512, gt=0, le=1 << 20)
    kv_type: str | None = None  # sets both K and V
    type_k: str | None = None
    type_v: str | None = None
    parallel: int = Field(default=1, gt=0, le=4096)
    mla_v_less: bool = False  # llama.cpp >= PR #19067 (2026-01-24): MLA caches K only
    kv_unified: bool = False  # --kv-unified: slots share one KV stream
    swa_full: bool = False  # --swa-full: sliding-window layers get the whole context
    runtime: str | None = None  # a runtime profile (specs/runtimes) whose keys fill the unset ones
    file_size_gib: float | None = Field(default=None, gt=0, le=1e5, allow_inf_nan=False)
    calibration: str | None = None

    @field_validator("kv_type", "type_k", "type_v")
    @classmethod
    def _kv(cls, v):
        if v is not None and v.lower() not in KV_TYPE_BYTES:
            raise ValueError(f"unknown KV cache type '{v}' (one of {', '.join(KV_TYPE_BYTES)})")
        return v.lower() if v else v

    @model_validator(mode="after")
    def _fits_context(self):
        if self.depth + self.n_prompt > self.context:
            raise ValueError(
                f"depth + n_prompt ({self.depth} + {self.n_prompt}) exceeds context {self.context}"
            )
        tk = self.type_k or self.kv_type or "f16"
        tv = self.type_v or self.kv_type or "f16"
        if tv not in ("f16", "f32", "bf16") and not self.flash_attn:
            raise ValueError(f"a quantized V cache ({tv}) needs flash attention in llama.cpp")
        self.type_k, self.type_v = tk, tv
        return self


def parse_query(raw: dict[str, Any], world: World | None = None) -> PlanQuery:
    """A query from flags or a JSON line; errors name the field. A `runtime` profile fills the
    runtime keys the query leaves unset."""
    if not isinstance(raw, dict):
        raise BadQuery("a query must be a JSON object")
    if "__bad_line__" in raw:  # a batch line that was not JSON (see cli.plan._read_batch)
        raise BadQuery(raw["__bad_line__"])
    raw = {k: v for k, v in raw.items() if v is not None}
    if raw.get("runtime") and world is not None:
        rt = world.get_runtime(str(raw["runtime"]))
        explicit_kv = raw.get("kv_type")
        for k, v in rt.query_defaults().items():
            if k in ("type_k", "type_v") and explicit_kv:
                continue
            raw.setdefault(k, v)
    try:
        return PlanQuery.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "query"
        msg = err["msg"].removeprefix("Value error, ")
        raise BadQuery(f"bad {field}: {msg}" + (f" (got {err['input']!r})" if field != "query" and "input" in err and not isinstance(err["input"], dict) else "")) from None


@dataclass
class _Ctx:
    world: World
    resolved: dict
    calibrations: dict


def _quant_for_gguf(world: World, header_ftype: int | None, tensors) -> tuple[str, str]:
    """(quant label, speed family) of a GGUF from general.file_type, else its dominant type."""
    if header_ftype is not None:
        for q in world.quants.values():
            if q.ftype == header_ftype and not q.id.startswith("UD-"):
                return q.id, q.family
    by_type: dict[str, float] = {}
    for t in tensors:
        by_type[t.type] = by_type.get(t.type, 0) + t.n_bytes
    top = max(by_type, key=by_type.get) if by_type else "f16"
    fam = {"f16": "f16", "bf16": "f16", "f32": "f16", "q8_0": "q8", "mxfp4": "mxfp4"}.get(top)
    fam = fam or ("iq" if top.startswith("iq") else "legacy" if top[1:2].isdigit() and top.endswith(("_0", "_1")) else "k")
    return top.upper(), fam


def resolve_model(world: World, name: str, quant: str | None, file_size_gib: float | None) -> ResolvedModel:
    is_url = name.startswith(("http://", "https://"))
    if is_url or (looks_like_gguf(name) and Path(name).expanduser().exists()):
        return _resolve_gguf(world, name, quant)
    parts = split_name(name, world)
    if parts is None:
        if looks_like_gguf(name) and ("/" in name or not name.lower().endswith(".gguf")):
            raise GgufError(f"no such file: {name}")
        world.model(name)  # raises "unknown model ... did you mean"
    arch = world.models[parts.model_id]
    qname = quant or parts.quant_id
    if qname is None:
        qname = arch.files[0].quant if arch.files else "Q4_K_M"
    ft = world.quant(qname)
    prof = profile_from_mix(arch, ft)
    if file_size_gib:
        prof = prof.scaled_to(file_size_gib * GIB, "file-size")
    else:
        known = [f for f in arch.files if norm(f.quant) == norm(ft.id) or world.find_quant(f.quant) is ft]
        known.sort(key=lambda f: f.source == "seed")  # published files before the seed's claims
        if known:
            prof = prof.scaled_to(known[0].size_gib * GIB, "catalog-file")
    return ResolvedModel(arch, prof, ft.family, arch.id, ft.id, "catalog")


def _resolve_gguf(world: World, name: str, quant: str | None) -> ResolvedModel:
    from vtt.gguf.arch import arch_from_header, profile_from_header
    from vtt.gguf.reader import read_gguf_header

    is_url = name.startswith(("http://", "https://"))
    if not is_url:
        name = str(Path(name).expanduser())
    header = read_gguf_header(name)
    stem = Path(name.split("?")[0]).name
    arch = arch_from_header(header, id=stem)
    prof = profile_from_header(header, arch)
    qlabel, fam = _quant_for_gguf(world, header.metadata.get("general.file_type"), header.tensors)
    if quant:
        ft = world.quant(quant)
        qlabel, fam = ft.id, ft.family
    return ResolvedModel(arch, prof, fam, stem, qlabel, "gguf-url" if is_url else "gguf")


def _round(x: float, nd: int = 3) -> float:
    return float(round(float(x), nd)) if math.isfinite(x) else None


def plan_many(raw_queries: list[dict], world: World | None = None) -> list[dict]:
    """Answer many queries; a bad one gets {'error': ...} and the rest are still answered."""
    world = world or default_world()
    answers: list[dict | None] = [None] * len(raw_queries)
    groups: dict[tuple, list[tuple[int, PlanQuery]]] = {}
    resolved: dict[tuple, Any] = {}
    for i, raw in enumerate(raw_queries):
        try:
            q = parse_query(raw, world)
            hw = world.get_hardware(q.hardware or "strix-halo-128")
            be = world.get_backend(q.backend or hw.default_backend)
            key = (q.model, q.quant, q.file_size_gib, hw.id, be.id, q.calibration, q.mla_v_less, q.kv_unified,
                   q.swa_full)
            if key not in resolved:
                try:
                    rm = resolve_model(world, q.model, q.quant, q.file_size_gib)
                    cal = find_calibration(world.roots, hw.id, be.id, q.calibration, be.defaults)
                    resolved[key] = (rm, hw, be, cal)
                except VttError as e:
                    resolved[key] = e
            if isinstance(resolved[key], VttError):
                raise resolved[key]
            groups.setdefault(key, []).append((i, q))
        except VttError as e:
            answers[i] = {**_echo(raw), "error": e.to_dict()}
    for key, items in groups.items():
        rm, hw, be, cal = resolved[key]
        for i, ans in zip((i for i, _ in items), _answer_group(rm, hw, be, cal, [q for _, q in items])):
            answers[i] = ans
    return answers


def _echo(raw) -> dict:
    return {k: raw.get(k) for k in ("model", "quant", "context") if isinstance(raw, dict) and k in raw}


def _answer_group(rm: ResolvedModel, hw, be, cal: Calibration, qs: list[PlanQuery]) -> list[dict]:
    arr = {
        "context": np.array([q.context for q in qs], dtype=np.int64),
        "depth": np.array([q.depth for q in qs], dtype=np.int64),
        "n_prompt": np.array([q.n_prompt for q in qs], dtype=np.int64),
        "n_gen": np.array([q.n_gen for q in qs], dtype=np.int64),
        "n_ubatch": np.array([q.n_ubatch for q in qs], dtype=np.int64),
        "parallel": np.array([q.parallel for q in qs], dtype=np.int64),
        "flash_attn": np.array([q.flash_attn for q in qs], dtype=bool),
        "type_k": [q.type_k for q in qs],
        "type_v": [q.type_v for q in qs],
        "mla_v_less": qs[0].mla_v_less,  # one value per group (these three are in the group key)
        "kv_unified": qs[0].kv_unified,
        "swa_full": qs[0].swa_full,
    }
    if be.api == "cpu":  # the CPU backend runs on the CPU's bandwidth and FLOPs
        hw = hw.model_copy(update={
            "mem_bandwidth_gbs": hw.cpu_bandwidth_gbs or hw.mem_bandwidth_gbs,
            "fp16_tflops": hw.cpu_tflops or hw.fp16_tflops / 20,
        })
    mem = memory_breakdown(rm, arr, be.compute_overhead_gib, hw.unified_memory)
    feats = speed_features(rm, hw, arr)
    sp = predict_speed(feats, cal.all_params(), cal.sigma_log, cal.param_names or None, cal.cov())
    budget = hw.budget_gib
    total = mem.total_bytes / GIB
    out = []
    for j, q in enumerate(qs):
        warn = []
        if rm.arch.mla and not q.mla_v_less:
            warn.append("MLA: llama.cpp builds since 2026-01-24 (PR #19067) cache K only, about half this KV; "
                        "pass mla_v_less (--mla-v-less) for them")
        if q.context > rm.arch.n_ctx_train:
            warn.append(f"context {q.context} exceeds the model's trained context {rm.arch.n_ctx_train}")
        out.append({
            "model": rm.model_label, "quant": rm.quant_label, "hardware": hw.id, "backend": be.id,
            "context": q.context, "depth": q.depth, "n_prompt": q.n_prompt, "n_gen": q.n_gen,
            "flash_attn": q.flash_attn, "n_ubatch": q.n_ubatch, "type_k": q.type_k, "type_v": q.type_v,
            "parallel": q.parallel, "kv_unified": q.kv_unified, "swa_full": q.swa_full, "mla_v_less": q.mla_v_less,
            "runtime": q.runtime,
            "weights_gib": _round(mem.weights_bytes[j] / GIB, 6),
            "kv_cache_gib": _round(mem.kv_cache_bytes[j] / GIB, 6),
            "compute_buffer_gib": _round(mem.compute_buffer_bytes[j] / GIB, 6),
            "overhead_gib": _round(mem.overhead_bytes[j] / GIB),
            "total_gib": _round(total[j], 4),
            "weights_bytes": int(mem.weights_bytes[j]),
            "kv_cache_bytes": int(mem.kv_cache_bytes[j]),
            "budget_gib": _round(budget),
            "headroom_gib": _round(budget - total[j]),
            "fits": bool(total[j] <= budget),
            "pp_tps": _round(sp["pp_tps"][j], 2),
            "tg_tps": _round(sp["tg_tps"][j], 2),
            "ttft_s": _round(sp["ttft_s"][j], 4),
            "pp_tps_interval": [_round(sp["pp_lo"][j], 2), _round(sp["pp_hi"][j], 2)],
            "tg_tps_interval": [_round(sp["tg_lo"][j], 2), _round(sp["tg_hi"][j], 2)],
            "ttft_s_interval": [_round(sp["ttft_lo"][j], 4), _round(sp["ttft_hi"][j], 4)],
            "calibration": cal.id,
            "weights_source": rm.weights.source,
            "arch": rm.arch.arch,
            "kind": rm.arch.kind,
            "warnings": warn,
        })
    return out
