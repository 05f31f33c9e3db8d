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
    box_gib: list[float] | None = None  # per box of a cluster (main box first); null on one box
    split: dict | None = None           # devices, boxes, endpoints of a model split across a cluster


class ResidentSet(_Out):
    id: str
    models: list[Member]
    total_gib: float
    box_gib: list[float] | None = None  # per box of a cluster: each within its box's budget


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
    split: dict | None = None          # when the model runs split across a cluster: boxes, link, network
                                       # ms per token, the one-box tg and pp it gives up


class Swap(_Out):
    between: list[str]
    switches_per_hour: float
    seconds: float


class Plan(_Out):
    version: int
    hardware: str
    budget_gib: float                  # the main box's, for models
    cluster: dict | None = None        # the cluster planned for: boxes, their budgets, link
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
