"""`vtt plan`: validate queries, resolve models (catalog, file name, local .gguf, URL), predict.

The edge between the pure cost model and the world: GGUF reads happen here. Queries are
grouped by what they resolve to, so a batch of 10,000 is a few vectorised evaluations.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vtt.calibration import Calibration, find_calibration
from vtt.cost import coverage, depth_curve
from vtt.cost.attention import attention_kind
from vtt.cost.predict import ResolvedModel, memory_breakdown, predict_speed, speed_features
from vtt.cost.weights import profile_from_mix
from vtt.errors import BadQuery, GgufError, VttError
from vtt.specs.base import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from vtt.specs.catalog import World, default_world, norm
from vtt.specs.names import NameParts, looks_like_gguf, split_name
from vtt.specs.runtime import KV_TYPE_BYTES
from vtt.units import GIB

# llama.cpp pads n_ctx to a multiple of 256 (llama_context: n_ctx = GGML_PAD(n_ctx, 256)); a
# request's default context is what it needs, rounded up the same way.
CTX_PAD = 256
# Bounds llama.cpp itself has (include/llama.h: n_ctx, n_ubatch are uint32; src/llama-cparams.h:
# LLAMA_MAX_SEQ 256 sequences), so absurd input is refused before it reaches numpy.
MAX_TOKENS = 2**32 - 1
MAX_SEQ = 256


class PlanQuery(BaseModel):
    """One what-if question: a model at a quant and context, on a hardware x backend."""

    model_config = ConfigDict(extra="forbid")

    id: Any = None  # any JSON value; passed through to the answer
    model: str = Field(min_length=1)
    quant: str | None = None
    context: int | None = Field(default=None, gt=0, le=MAX_TOKENS)  # default 4096; a request's: what it needs
    depth: int = Field(default=0, ge=0, le=MAX_TOKENS)
    # 0 as in llama-bench's -p 0 / -n 0: that test is not run and its keys are null
    n_prompt: int = Field(default=512, ge=0, le=MAX_TOKENS)
    n_gen: int = Field(default=128, ge=0, le=MAX_TOKENS)
    hardware: str | None = None
    backend: str | None = None
    flash_attn: bool = True
    n_ubatch: int = Field(default=512, gt=0, le=MAX_TOKENS)
    kv_type: str | None = None  # sets both K and V
    type_k: str | None = None
    type_v: str | None = None
    parallel: int = Field(default=1, gt=0, le=MAX_SEQ)
    # llama.cpp since PR #19067 (https://github.com/ggml-org/llama.cpp/pull/19067, merged 2026-01-24;
    # the pinned build has it) caches only K for MLA models:
    # V is a view of the 576-wide latent. `mla_kv_full` answers for older builds (K and V stored).
    mla_v_less: bool = True
    mla_kv_full: bool = False
    kv_unified: bool = False  # --kv-unified: slots share one KV stream
    swa_full: bool = False  # --swa-full: sliding-window layers get the whole context
    runtime: str | None = None  # a runtime profile (specs/runtimes) whose keys fill the unset ones
    file_size_gib: float | None = Field(default=None, gt=0, le=1e6, allow_inf_nan=False)
    calibration: str | None = None
    build: int | None = Field(default=None, ge=0, le=10**7)  # llama.cpp build number the answer is for (echoed)
    # ROCBLAS_USE_HIPBLASLT=1 set (HIP): older builds ran a prompt's GEMMs on rocBLAS, whose own
    # Tensile kernels were 3-5x slower on gfx1151 (vtt.cost.gemm). None: unset. Echoed when given.
    hipblaslt: bool | None = None
    # a HIP build with GGML_HIP_ROCWMMA_FATTN (builds before ~b7000 ran a prompt's flash attention on the
    # rocWMMA kernel with it, on the vec kernel without: vtt.cost.attention). None: not built with it.
    rocwmma: bool | None = None
    # A request (design.md "Requests"): C cached tokens, P new prompt tokens, O output tokens.
    # Any of these, `request` or a `mode` preset (EDITOR/MODE from specs/modes) makes one.
    request: bool = False
    cached_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS)
    prompt_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    output_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS)
    mode: str | None = None
    # memory units of the human table and the extra `*_gb` keys; the `*_gib` keys are always there
    units: Literal["GiB", "GB"] = "GiB"
    # add `time_terms` to the answer: the point prediction by named term of the cost model (vtt plan
    # --explain). Off by default: a 10k batch answers ~25 % slower with them
    explain: bool = False
    boxes: int | None = Field(default=None, ge=1, le=64)  # N identical boxes joined by llama.cpp RPC
    cluster: str | None = None  # a cluster spec (specs/clusters)
    link: str | None = None  # the link between the boxes (specs/links), for --boxes
    tensor_split: list[float] | None = None  # llama.cpp --tensor-split, in device order
    # what the GPU may address, GiB: default this machine's GTT/TTM limits when vtt runs on the
    # hardware asked about, else the spec's (vtt.budget, the same rule vtt optimize and fit use)
    budget_gib: float | None = Field(default=None, gt=0, le=1e5, allow_inf_nan=False)
    _warnings: list[str] = PrivateAttr(default_factory=lambda: [])  # not `list`: pydantic inspects the factory's signature, and for a builtin that parses its text signature (~8 ms of vtt plan's start)

    @field_validator("units", mode="before")
    @classmethod
    def _units(cls, v):
        if isinstance(v, str) and v.lower() in ("gib", "gb"):
            return "GiB" if v.lower() == "gib" else "GB"
        raise ValueError(f"unknown units {v!r}: use GiB or GB")

    @field_validator("kv_type", "type_k", "type_v")
    @classmethod
    def _kv(cls, v):
        if v is not None and v.lower() not in KV_TYPE_BYTES:
            raise ValueError(f"unknown KV cache type '{v}' (one of {', '.join(KV_TYPE_BYTES)})")
        return v.lower() if v else v

    @model_validator(mode="after")
    def _fits_context(self):
        self._request_shape()
        if self.depth + self.n_prompt > self.context:
            raise ValueError(
                f"depth + n_prompt ({self.depth} + {self.n_prompt}) exceeds context {self.context}"
            )
        tk = self.type_k or self.kv_type or "f16"
        tv = self.type_v or self.kv_type or "f16"
        if tv not in ("f16", "f32", "bf16") and not self.flash_attn:
            raise ValueError(f"a quantized V cache ({tv}) needs flash attention in llama.cpp")
        self.type_k, self.type_v = tk, tv
        if self.mla_kv_full:
            self.mla_v_less = False
        self.mla_kv_full = not self.mla_v_less
        return self

    def _request_shape(self) -> None:
        """A request becomes llama-bench terms: depth C, n_prompt P, n_gen O; context >= C + P + O."""
        if not (self.request or self.mode or any(
                x is not None for x in (self.cached_tokens, self.prompt_tokens, self.output_tokens))):
            self.context = 4096 if self.context is None else self.context
            return
        self.request = True
        if self.mode and (self.prompt_tokens is None or self.output_tokens is None):
            shape = find_mode(default_world(), self.mode).request  # built directly, not by parse_query
            self.cached_tokens = shape.depth if self.cached_tokens is None else self.cached_tokens
            self.prompt_tokens = self.prompt_tokens or shape.n_prompt
            self.output_tokens = shape.n_gen if self.output_tokens is None else self.output_tokens
        given = sorted({"depth", "n_prompt", "n_gen"} & self.model_fields_set)
        if given:
            flags = {"depth": "-d", "n_prompt": "-p", "n_gen": "-n"}
            raise ValueError("a request takes cached_tokens, prompt_tokens and output_tokens, not "
                             + ", ".join(f"{g} ({flags[g]})" for g in given))
        if self.prompt_tokens is None or self.output_tokens is None:
            raise ValueError("a request needs prompt_tokens and output_tokens (--prompt-tokens, --output-tokens), "
                             "or a mode preset (--mode roo/ask)")
        self.cached_tokens = self.cached_tokens or 0
        self.depth, self.n_prompt, self.n_gen = self.cached_tokens, self.prompt_tokens, self.output_tokens
        need = self.cached_tokens + self.prompt_tokens + self.output_tokens
        fit = -(-need // CTX_PAD) * CTX_PAD
        if self.context is None:
            self.context = fit
        elif self.context < need:
            if not self.mode:
                raise ValueError(f"context {self.context} cannot hold the request's cached + prompt + output "
                                 f"tokens ({self.cached_tokens} + {self.prompt_tokens} + {self.output_tokens} = {need})")
            self._warnings.append(f"context {self.context} cannot hold mode {self.mode}'s request ({need} tokens): "
                                  f"answered at context {fit}")
            self.context = fit


def parse_query(raw: dict[str, Any], world: World | None = None) -> PlanQuery:
    """A query from flags or a JSON line; errors name the field. A `runtime` profile fills the
    runtime keys the query leaves unset."""
    if not isinstance(raw, dict):
        raise BadQuery("a query must be a JSON object")
    if "__bad_line__" in raw:  # a batch line that was not JSON (see cli.plan._read_batch)
        raise BadQuery(raw["__bad_line__"])
    raw = {k: v for k, v in raw.items() if v is not None}
    if raw.get("mode") is not None:
        _fill_from_mode(raw, world or default_world())
    if raw.get("cluster") and world is not None:  # the main box's hardware and backend, unless given
        for k, v in world.get_cluster(str(raw["cluster"])).query_defaults().items():
            if v is not None:
                raw.setdefault(k, v)
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


def _fill_from_mode(raw: dict, world: World) -> None:
    """A mode preset (EDITOR/MODE) fills the request keys the query leaves unset: its typical
    request's depth is the cached prefix, n_prompt the new tokens, n_gen the output."""
    shape = find_mode(world, str(raw["mode"])).request
    raw.setdefault("cached_tokens", shape.depth)
    raw.setdefault("prompt_tokens", shape.n_prompt)
    raw.setdefault("output_tokens", shape.n_gen)


_MODES: dict[tuple, dict] = {}


def find_mode(world: World, ref: str):
    """The mode 'EDITOR/MODE' (roo/ask) from specs/modes; loaded once per set of spec roots."""
    from vtt.errors import UnknownName
    from vtt.specs.mode import load_modes

    key = tuple(world.roots)
    if key not in _MODES:
        _MODES[key] = load_modes(list(world.roots))
    editors = _MODES[key]
    editor, _, mid = ref.partition("/")
    em = editors.get(editor.lower())
    mode = next((m for m in em.modes if m.id == mid.lower()), None) if em else None
    if mode is None:
        known = ", ".join(f"{e}/{m.id}" for e, x in editors.items() for m in x.modes)
        raise UnknownName(f"unknown mode '{ref}': use EDITOR/MODE, one of {known}", hint="try: vtt catalog modes")
    return mode


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


def resolve_model(world: World, name: str, quant: str | None, file_size_gib: float | None,
                  notes: list[str] | None = None) -> ResolvedModel:
    """What `name` means: a catalog model (by id, alias, seed name or file name), a local .gguf,
    an http(s) URL of one, or a Hugging Face repository (-hf user/repo[:quant], hf.co/user/repo).
    Warnings about how the name was read are appended to `notes`."""
    if "/" in name:
        from vtt.gguf.hf import parse_hf_ref, resolve_hf

        ref = parse_hf_ref(name)
        if ref is not None:
            url, path = resolve_hf(ref)
            if notes is not None:
                notes.append(f"{name} resolved to {ref.repo} file {path}")
            return _resolve_gguf(world, url, quant)
    is_url = name.startswith(("http://", "https://"))
    if is_url or (looks_like_gguf(name) and Path(name).expanduser().exists()):
        return _resolve_gguf(world, name, quant)
    parts = split_name(name, world)
    if parts is None:
        if looks_like_gguf(name) and ("/" in name or not name.lower().endswith(".gguf")):
            raise GgufError(f"no such file: {name}")
        parts = NameParts(world.model(name).id, None)  # raises "unknown model ... did you mean"
    if parts.note and notes is not None:
        notes.append(parts.note)
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
    from vtt import lightweight

    if lightweight.ACTIVE:  # a header from a file or server becomes a spec pydantic must validate
        raise lightweight.NeedFull("a GGUF header")
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


def _tps(x: float) -> float:
    """A speed: two decimals, or three significant figures below 1 t/s, so a model that runs slowly
    (DeepSeek-V3 Q8_0 prefill on a CPU: 0.04 t/s) never reads 0, which would say the test did not run."""
    x = float(x)
    return _round(x, 2) if not math.isfinite(x) or abs(x) >= 1 else float(f"{x:.3g}")


Interval = list[float | None]


class Answer(BaseModel):
    """One answer, typed: what `vtt plan --json` prints is `Answer.to_json()`. Keys newer parts of
    the cost model add are kept as extras. Speeds are null for a test not run (-p 0 / -n 0);
    the request keys (cached_tokens ... e2e_s_interval) are set only for requests, `*_gb` only
    with units GB."""

    model_config = ConfigDict(extra="allow")

    id: Any = None
    model: str
    quant: str
    hardware: str
    backend: str
    context: int
    depth: int
    n_prompt: int
    n_gen: int
    flash_attn: bool
    n_ubatch: int
    type_k: str
    type_v: str
    parallel: int
    kv_unified: bool
    swa_full: bool
    mla_v_less: bool
    mla_kv_full: bool
    runtime: str | None
    weights_gib: float
    kv_cache_gib: float
    compute_buffer_gib: float
    overhead_gib: float | None
    total_gib: float
    weights_bytes: int
    kv_cache_bytes: int
    budget_gib: float | None
    headroom_gib: float | None
    fits: bool
    pp_tps: float | None
    tg_tps: float | None
    ttft_s: float | None
    pp_tps_interval: Interval | None
    tg_tps_interval: Interval | None
    ttft_s_interval: Interval | None
    calibration: str
    weights_source: str
    arch: str
    kind: str
    warnings: list[str]
    build: int | None = None
    units: Literal["GiB", "GB"] = "GiB"
    extrapolated: bool | None = None  # set by the coverage check: inputs outside the calibration data
    request: bool | None = None
    mode: str | None = None
    cached_tokens: int | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    gen_s: float | None = None
    gen_s_interval: Interval | None = None
    e2e_s: float | None = None
    e2e_s_interval: Interval | None = None

    def to_json(self) -> dict:
        """The JSON contract: every key that was set (an `id` only when the query had one)."""
        return self.model_dump(exclude_unset=True)


def plan(query: PlanQuery | dict, world: World | None = None) -> Answer:
    """Answer one query (a PlanQuery, or a dict with the batch keys). Raises VttError on bad
    input or an unreadable model file; any other exception is a bug and propagates."""
    (r,) = plan_answers([query], world)
    if isinstance(r, Exception):
        raise r
    return r


def plan_many(raw_queries: list[dict], world: World | None = None) -> list[dict]:
    """The JSON contract over `plan_answers`: answers as dicts, in order; a query that failed,
    whatever the failure, becomes {'error': {code, message[, hint]}} with its id, model, quant
    and context echoed, and the rest are still answered."""
    return [_error_answer(raw, r) if isinstance(r, Exception) else r.to_json()
            for raw, r in zip(raw_queries, plan_answers(raw_queries, world))]


def plan_answers(queries: list, world: World | None = None) -> list[Answer | Exception]:
    """Answer many queries (PlanQuery objects or dicts), grouped by what they resolve to so a
    batch of 10,000 is a few vectorised evaluations. Each failure is returned in its query's
    place, never raised: one bad query cannot stop the others."""
    world = world or default_world()
    answers: list[Answer | Exception | None] = [None] * len(queries)
    groups: dict[tuple, list[tuple[int, PlanQuery]]] = {}
    resolved: dict[tuple, Any] = {}
    for i, raw in enumerate(queries):
        try:
            q = raw if isinstance(raw, PlanQuery) else parse_query(raw, world)
            hw = world.get_hardware(q.hardware or "strix-halo-128")
            be = world.get_backend(q.backend or hw.default_backend)
            key = (q.model, q.quant, q.file_size_gib, hw.id, be.id, q.calibration, q.build, q.budget_gib, q.mla_v_less, q.kv_unified,
                   q.swa_full)
            if key not in resolved:
                try:
                    notes: list[str] = []
                    rm = resolve_model(world, q.model, q.quant, q.file_size_gib, notes)
                    cal = find_calibration(world.roots, hw.id, be.id, q.calibration, be.defaults, build=q.build)
                    resolved[key] = (rm, hw, be, cal, notes)
                except Exception as e:  # noqa: BLE001 - one query's failure is its own answer
                    resolved[key] = e
            if isinstance(resolved[key], Exception):
                raise resolved[key]
            groups.setdefault(key, []).append((i, q))
        except Exception as e:  # noqa: BLE001
            answers[i] = e
    for key, items in groups.items():
        rm, hw, be, cal, notes = resolved[key]
        try:
            done = list(zip((i for i, _ in items), _answer_split(rm, hw, be, cal, [q for _, q in items], world)))
        except Exception:  # noqa: BLE001 - find the query that fails; answer the others
            done = []
            for i, q in items:
                try:
                    done.append((i, _answer_split(rm, hw, be, cal, [q], world)[0]))
                except Exception as e:  # noqa: BLE001
                    answers[i] = e
        by_index = dict(items)
        for i, ans in done:
            q = by_index[i]
            if "error" in ans:  # a step after the group (a split over boxes) refused this query
                e = ans["error"]
                answers[i] = VttError(e["message"], hint=e.get("hint"), code=e["code"])
                continue
            if ans.get("units") == "GB":
                ans.update(_gb_keys(ans))
            if notes:
                ans["warnings"] = [*notes, *ans.get("warnings", [])]
            if "id" in q.model_fields_set:
                ans = {"id": q.id, **ans}
            try:
                answers[i] = Answer.model_validate(ans)
            except ValidationError as e:  # a bug in the cost model, not the query's fault
                answers[i] = e
    return answers


def _error_answer(raw, e: Exception) -> dict:
    if isinstance(e, VttError):
        err = e.to_dict()
        err["message"] = printable(err["message"])
    else:  # a bug: still this query's answer only, named so it can be reported
        err = {"code": "internal_error",
               "message": printable(f"internal error answering this query: {type(e).__name__}: {e}"),
               "hint": "please report it with the query line"}
    return {**_echo(raw), "error": err}


def printable(text: object, limit: int = 2000) -> str:
    """Text from files and servers with control characters (newlines, terminal escapes) escaped
    as repr writes them, cut to `limit`, so it cannot rewrite the user's screen."""
    s = str(text)
    if not s.isprintable():
        s = "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)
    return s if len(s) <= limit else s[:limit] + "..."


def _answer_split(rm, hw, be, cal, qs: list, world) -> list[dict]:
    """One group's answers; a split over boxes (llama.cpp RPC) adds its devices and network terms."""
    group = _answer_group(rm, hw, be, cal, qs)
    if any(q.boxes or q.cluster for q in qs):
        from vtt.plan_split import with_cluster

        group = with_cluster(group, rm, qs, world, _one_box_speed)
    return group


def _echo(raw) -> dict:
    return {k: raw.get(k) for k in ("id", "model", "quant", "context") if isinstance(raw, dict) and k in raw}


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
        "build": [q.build for q in qs],
        "hipblaslt": [q.hipblaslt for q in qs],
        "rocwmma": [q.rocwmma for q in qs],
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
    feats = depth_curve.attach(speed_features(rm, hw, arr, be), cal.attn_depth)
    sp = predict_speed(feats, cal.all_params(), cal.sigma_log, cal.param_names or None, cal.cov())
    ext = coverage.extrapolation(attention_kind(rm.arch), feats, cal.all_params(), cal.coverage, cal.param_names,
                                 cal.builds, [getattr(q, "build", None) for q in qs], families=cal.families,
                                 compressed=rm.arch.compressed is not None, arch=rm.arch.arch, archs=cal.archs)
    sp = coverage.widen(sp, ext)
    rt = None
    f_gen = feats
    if any(q.request for q in qs):  # generation at the depths it happens: C + P onward
        from vtt.cost.request import request_features, request_times

        _, f_gen = request_features(feats, arr["depth"], arr["n_prompt"], arr["n_gen"])
        sp_gen = coverage.widen(predict_speed(f_gen, cal.all_params(), cal.sigma_log, cal.param_names or None,
                                                   cal.cov()), ext)
        rt = request_times(f_gen, cal.all_params(), sp, sp_gen)
    from vtt.budget import resolve_budget

    addressable, budget_source = resolve_budget(hw, qs[0].budget_gib)  # one budget per group (in its key)
    budget = min(addressable, hw.memory_gib) - hw.reserve_gib
    total = mem.total_bytes / GIB
    terms = _time_terms(feats, f_gen, cal.all_params()) if any(q.explain for q in qs) else None
    out = []
    for j, q in enumerate(qs):
        warn = list(q._warnings)
        if rm.arch.mla and not q.mla_v_less:
            warn.append("MLA: this KV is the K+V layout of llama.cpp builds before PR #19067 (2026-01-24); "
                        "newer builds, the pinned one included, cache K only (about half); drop --mla-kv-full for them")
        if ext.warning(j):
            warn.append(ext.warning(j))
        if feats.tensile is not None and feats.tensile[j] > 0 and q.hipblaslt is None:
            warn.append(f"HIP build b{q.build} on RDNA3: a prompt's GEMMs run rocBLAS, whose own (Tensile) kernels are 3-5x "
                        "slower on gfx1151 than with ROCBLAS_USE_HIPBLASLT=1; not knowing which, pp is answered halfway "
                        "with an interval that reaches both: --hipblaslt or --no-hipblaslt says which")
        if q.context > rm.arch.n_ctx_train:
            warn.append(f"context {q.context} exceeds the model's trained context {rm.arch.n_ctx_train}")
        out.append({
            "model": rm.model_label, "quant": rm.quant_label, "hardware": hw.id, "backend": be.id,
            "context": q.context, "depth": q.depth, "n_prompt": q.n_prompt, "n_gen": q.n_gen,
            "flash_attn": q.flash_attn, "n_ubatch": q.n_ubatch, "type_k": q.type_k, "type_v": q.type_v,
            "parallel": q.parallel, "kv_unified": q.kv_unified, "swa_full": q.swa_full, "mla_v_less": q.mla_v_less,
            "mla_kv_full": q.mla_kv_full,
            "runtime": q.runtime,
            "weights_gib": _round(mem.weights_bytes[j] / GIB, 6),
            "kv_cache_gib": _round(mem.kv_cache_bytes[j] / GIB, 6),
            "compute_buffer_gib": _round(mem.compute_buffer_bytes[j] / GIB, 6),
            "overhead_gib": _round(mem.overhead_bytes[j] / GIB),
            "total_gib": _round(total[j], 4),
            "weights_bytes": int(mem.weights_bytes[j]),
            "kv_cache_bytes": int(mem.kv_cache_bytes[j]),
            "budget_gib": _round(budget),
            "budget_source": budget_source,
            "headroom_gib": _round(budget - total[j]),
            "fits": bool(total[j] <= budget),
            **_speed_keys(sp, j, q),
            **(_request_keys(rt, j, q) if q.request else {}),
            "build": q.build,
            **({"hipblaslt": q.hipblaslt} if q.hipblaslt is not None else {}),
            **({"rocwmma": q.rocwmma} if q.rocwmma is not None else {}),
            "units": q.units,
            "calibration": cal.id,
            "calibration_builds": cal.builds,  # the llama.cpp builds its rows came from (vtt plan --build picks by it)
            "weights_source": rm.weights.source,
            "arch": rm.arch.arch,
            "kind": rm.arch.kind,
            "extrapolated": bool(ext.extrapolated[j]),
            # the prompt's full-attention time over its linear charge, from the calibration's measured depth curve
            **({"attn_depth_factor": _round(float(feats.attn_depth[j]), 4)} if feats.attn_depth is not None else {}),
            "warnings": warn,
            **({"time_terms": {"pp_s": {k: v[j] for k, v in terms[0].items()} if q.n_prompt > 0 else None,
                               "tg_ms_per_token": {k: v[j] for k, v in terms[1].items()} if q.n_gen > 0 else None}}
               if q.explain else {}),
        })
    return out


def _time_terms(feats, f_gen, params: dict) -> tuple[dict, dict]:
    """The point prediction by named term (vtt.cost.throughput): seconds of the prompt, and ms of a
    generated token at the mean generated position (where tg_tps is taken). Terms without an
    interval: the interval belongs to the whole answer."""
    from vtt.cost import throughput

    n = np.maximum(f_gen.n_gen, 1).astype(float)
    pp = throughput.prefill_terms(feats, params)
    tg = throughput.decode_terms(f_gen, params, f_gen.depth + (n - 1) / 2)
    # rounded as whole arrays, not per answer; + 0.0 turns -0.0 (a correction that rounds to nothing) into 0.0
    size = len(feats.n_prompt)
    return ({k: (np.round(np.broadcast_to(v, size), 6) + 0.0).tolist() for k, v in pp.items()},
            {k: (np.round(np.broadcast_to(v, size) * 1e3, 5) + 0.0).tolist() for k, v in tg.items()})


def _speed_keys(sp: dict, j: int, q: PlanQuery) -> dict:
    """pp/tg/TTFT keys; a test llama-bench would not run (-p 0, -n 0) is null, as its interval."""
    pp = q.n_prompt > 0
    tg = q.n_gen > 0
    return {
        "pp_tps": _tps(sp["pp_tps"][j]) if pp else None,
        "tg_tps": _tps(sp["tg_tps"][j]) if tg else None,
        "ttft_s": _round(sp["ttft_s"][j], 4) if pp else None,
        "pp_tps_interval": [_tps(sp["pp_lo"][j]), _tps(sp["pp_hi"][j])] if pp else None,
        "tg_tps_interval": [_tps(sp["tg_lo"][j]), _tps(sp["tg_hi"][j])] if tg else None,
        "ttft_s_interval": [_round(sp["ttft_lo"][j], 4), _round(sp["ttft_hi"][j], 4)] if pp else None,
    }


def _request_keys(rt: dict, j: int, q: PlanQuery) -> dict:
    """A request's answer: TTFT at depth C, generation from C + P on, end to end; tg_tps is the
    request's mean generation rate (llama-bench -n O -d C+P), not the rate at depth C."""
    tg = q.n_gen > 0
    return {
        "request": True, "mode": q.mode, "cached_tokens": q.cached_tokens, "prompt_tokens": q.prompt_tokens,
        "output_tokens": q.output_tokens,
        "tg_tps": _tps(rt["tg_tps"][j]) if tg else None,
        "tg_tps_interval": [_tps(rt["tg_lo"][j]), _tps(rt["tg_hi"][j])] if tg else None,
        "gen_s": _round(rt["gen_s"][j], 4),
        "gen_s_interval": [_round(rt["gen_lo"][j], 4), _round(rt["gen_hi"][j], 4)],
        "e2e_s": _round(rt["e2e_s"][j], 4),
        "e2e_s_interval": [_round(rt["e2e_lo"][j], 4), _round(rt["e2e_hi"][j], 4)],
    }


def _gb_keys(ans: dict) -> dict:
    """`*_gb` (10^9 bytes) beside every `*_gib` (2^30 bytes) key, as download pages count."""
    return {k[:-4] + "_gb": (None if v is None else round(v * GIB / 1e9, 4))
            for k, v in ans.items() if k.endswith("_gib") and isinstance(v, (int, float, type(None)))}


def _one_box_speed(q, hardware: str, backend: str) -> tuple[float, float]:
    """(pp_tps, tg_tps) of the whole model on one box of another kind (heterogeneous clusters)."""
    raw = q.model_dump(exclude={"boxes", "cluster", "link", "tensor_split", "calibration"})
    a = plan_many([{**raw, "hardware": hardware, "backend": backend}])[0]
    if "error" in a:
        raise BadQuery(f"no one-box speed on {hardware}/{backend}: {a['error']['message']}")
    return a["pp_tps"], a["tg_tps"]


def plan_on_cluster(queries: list[dict], *, cluster: str | None = None, boxes: int | None = None,
                    link: str | None = None, world=None) -> list[dict]:
    """The optimizer's entry point for candidates that may only fit split across boxes: each
    candidate query (plan keys: model, quant, context, ...) answered on the cluster, in order.
    Each answer has `fits` (every device fits its box), `tg_tps` / `pp_tps` with the network paid,
    `tg_tps_one_box` (what one box would do, were it big enough), `devices` and `network` (the
    named terms, for the `why`). A candidate that cannot be planned has an `error` instead."""
    if (cluster is None) == (boxes is None):
        raise BadQuery("give a cluster id or a number of boxes, not both or neither")
    extra = {"cluster": cluster} if cluster else {"boxes": boxes, "link": link}
    return plan_many([{**q, **{k: v for k, v in extra.items() if v is not None}} for q in queries], world)
