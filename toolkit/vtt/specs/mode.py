"""Editor modes as data: request shape, needs, what a mode values, and which modes share a session."""

from __future__ import annotations

from pathlib import Path

from vtt.specs.base import Field, Spec, model_validator


class RequestShape(Spec):
    """One typical turn: the context already filled, the tokens appended, the tokens generated."""

    depth: int = Field(ge=0, description="tokens already in the context when the turn starts")
    n_prompt: int = Field(gt=0, description="tokens appended per turn (prefilled before the first token)")
    n_gen: int = Field(gt=0, description="tokens generated per turn")


class Needs(Spec):
    min_context: int = Field(gt=0)
    min_tg_tps: float = Field(default=0.0, ge=0)
    max_ttft_s: float = Field(default=1e9, gt=0)


class Weights(Spec):
    quality: float = Field(ge=0, le=1)
    speed: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self):
        if abs(self.quality + self.speed - 1.0) > 1e-6:
            raise ValueError(f"quality + speed must be 1 (got {self.quality} + {self.speed})")
        return self


class Mode(Spec):
    id: str = Field(min_length=1)
    name: str
    request: RequestShape
    needs: Needs
    weights: Weights
    share: float = Field(default=1.0, gt=0, description="how much of the day the mode is used (relative)")

    @model_validator(mode="after")
    def _fits(self):
        if self.request.depth + self.request.n_prompt > self.needs.min_context:
            raise ValueError("request depth + n_prompt exceeds needs.min_context")
        return self


class Session(Spec):
    name: str
    modes: list[str] = Field(min_length=2)
    switches_per_hour: float = Field(gt=0, description="mode switches per hour while this session runs")


class EditorModes(Spec):
    editor: str = Field(min_length=1)
    modes: list[Mode] = Field(min_length=1)
    sessions: list[Session] = []

    @model_validator(mode="after")
    def _sessions_name_modes(self):
        ids = {m.id for m in self.modes}
        if len(ids) != len(self.modes):
            raise ValueError("mode ids must be unique")
        for s in self.sessions:
            bad = [m for m in s.modes if m not in ids]
            if bad:
                raise ValueError(f"session '{s.name}' names unknown mode(s) {bad}")
        return self


def load_modes(roots: list[Path]) -> dict[str, EditorModes]:
    """Every specs/modes/*.yaml under the roots (later roots override by editor)."""
    from vtt.specs.yamlfile import read_yaml, validate

    out: dict[str, EditorModes] = {}
    for root in roots:
        d = root / "modes"
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.yaml")):
            doc = read_yaml(f)
            if doc.data is None:
                continue
            em = validate(EditorModes, doc.data, doc)
            out[em.editor] = em
    return out
