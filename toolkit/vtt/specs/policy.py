"""Optimizer policies as data: memory rules, per-mode minima and pins. Files merge in name order."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from vtt.errors import SpecError
from vtt.specs.base import Field, Spec, field_validator


class ModeOverride(Spec):
    min_context: int | None = Field(default=None, gt=0)
    min_tg_tps: float | None = Field(default=None, ge=0)
    max_ttft_s: float | None = Field(default=None, gt=0)


class Policy(Spec):
    """All keys optional so files can be split; `merge` combines them (later files win on scalars)."""

    never_together: list[tuple[str, str]] = Field(default=[], description="model ids never resident together")
    headroom_gib: float | None = Field(default=None, ge=0, description="kept free inside every resident set")
    other_work_gib: float | None = Field(default=None, ge=0, description="editor, language servers, builds")
    cache_ram_gib: float | None = Field(default=None, ge=0, description="llama-server --cache-ram per server")
    prefer_resident: bool | None = Field(default=None, description="penalise every resident set beyond the first")
    set_penalty: float | None = Field(default=None, ge=0, description="objective cost of each extra resident set")
    swap_weight: float | None = Field(default=None, ge=0, description="objective cost per hour-fraction spent swapping")
    quality_benchmark: str | None = Field(default=None, description="the scale quality is reported on (specs/quality)")
    missing_quality: Literal["prior", "exclude"] | None = Field(
        default=None, description="a model with no published score: its wide prior (marked), or excluded from "
        "modes whose quality weight >= quality_mode_threshold (each exclusion named in the plan)")
    quality_mode_threshold: float | None = Field(default=None, ge=0, le=1)
    min_params_b: float | None = Field(
        default=None, ge=0, description="models with fewer total parameters (billions) are not offered to any "
        "mode unless pinned (each exclusion named in the plan)")
    quant_penalty_per_ppl: float | None = Field(default=None, ge=0, description="overrides specs/quality")
    quant_ppl_delta: dict[str, float] = Field(default={}, description="overrides rows of specs/quality")
    standard_quants: list[str] | None = None
    context_ladder: list[int] | None = None
    kv_type: str | None = None
    modes: dict[str, ModeOverride] = Field(default={}, description="'editor/mode' -> minima overrides")
    pins: dict[str, str] = Field(default={}, description="'editor/mode' -> 'model' or 'model/quant'")

    @field_validator("modes", "pins")
    @classmethod
    def _keys(cls, v):
        for k in v:
            if k.count("/") != 1:
                raise ValueError(f"key '{k}' must be 'editor/mode'")
        return v


DEFAULTS = dict(
    headroom_gib=2.0, other_work_gib=4.0, cache_ram_gib=0.0, prefer_resident=True, set_penalty=0.01,
    swap_weight=1.0, quality_benchmark="SWE-bench Verified", missing_quality="prior",
    quality_mode_threshold=0.5, min_params_b=3.0,
    standard_quants=["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M"],
    context_ladder=[16384, 32768, 65536, 131072], kv_type="f16",
)


def merge(policies: list[Policy]) -> Policy:
    data: dict = {"never_together": [], "modes": {}, "pins": {}, "quant_ppl_delta": {}}
    for p in policies:
        d = p.model_dump(exclude_unset=True)
        data["never_together"] += [tuple(x) for x in d.pop("never_together", [])]
        for k in ("modes", "pins", "quant_ppl_delta"):
            data[k].update(d.pop(k, {}))
        data.update({k: v for k, v in d.items() if v is not None})
    for k, v in DEFAULTS.items():
        data.setdefault(k, v)
    return Policy.model_validate(data)


def policy_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.glob("*.yaml"))
    if not path.exists():
        raise SpecError(f"{path}: no such policy file or directory")
    return [path]


def load_policies(paths: list[Path], world=None) -> Policy:
    """Read policy files (each may be a dir); model ids are checked against the world (file:line)."""
    from vtt.specs.yamlfile import read_yaml, validate

    parts = []
    for p in paths:
        for f in policy_files(Path(p)):
            doc = read_yaml(f)
            if doc.data is None:
                continue
            pol = validate(Policy, doc.data, doc)
            if world is not None:
                _check_names(pol, doc, world)
            parts.append(pol)
    return merge(parts)


def _check_names(pol: Policy, doc, world) -> None:
    from vtt.errors import UnknownName

    def known(name: str, path: tuple) -> None:
        if world.find_model(name) is None:
            raise SpecError(f"{doc.where(path)}: field '{'.'.join(map(str, path))}': unknown model '{name}'")

    for i, (a, b) in enumerate(pol.never_together):
        known(a, ("never_together", i, 0))
        known(b, ("never_together", i, 1))
    for k, v in pol.pins.items():
        model, _, quant = v.partition("/")
        known(model, ("pins", k))
        if quant and world.find_quant(quant) is None:
            raise SpecError(f"{doc.where(('pins', k))}: field 'pins.{k}': unknown quant '{quant}'")
    _ = UnknownName
