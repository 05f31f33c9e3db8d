"""The optimizer's answer as typed objects. `Plan.to_json()` is the JSON contract of `vtt optimize --json`
(what `vtt check` reads back); the CLI only renders or serializes it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Member(_Out):
    model: str
    quant: str
    context: int
    total_gib: float
    load_s: float
    server: str
    file: str | None = None


class ResidentSet(_Out):
    id: str
    models: list[Member]
    total_gib: float


class RunnerUp(_Out):
    model: str
    quant: str
    lost_on: str


class Assignment(_Out):
    editor: str
    mode: str
    model: str
    quant: str
    context: int
    server: str
    pp_tps: float
    tg_tps: float
    ttft_s: float
    gen_s: float
    e2e_s: float
    resident_set: str
    quality: float | None
    quality_interval: list[float] | None
    quality_kind: str                  # "measured" (published scores) or "prior" (no score: a wide prior)
    quality_source: str
    value: float
    binding: str                       # the constraint that binds this choice
    why: str
    runner_up: RunnerUp | None
    rejected: list[str]                # every other model and what it lacked (never excluded silently)


class Swap(_Out):
    between: list[str]
    switches_per_hour: float
    seconds: float


class Plan(_Out):
    version: int
    hardware: str
    budget_gib: float
    budget_requested_gib: float
    budget_source: str
    kept_free_gib: float
    policy: dict
    assignments: list[Assignment]
    resident_sets: list[ResidentSet]
    swaps: list[Swap]
    objective: float
    status: str
    stats: dict

    def to_json(self) -> dict:
        return self.model_dump()
