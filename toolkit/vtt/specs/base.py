"""Shared pydantic base for specs: strict about unknown keys so typos are caught."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # validators built on first use: a cached World (vtt.specs.catalog) needs none


class Source(Spec):
    """Where a fact came from. `verified`: V primary source, C consistent copies, M unverified."""

    url: str
    note: str | None = None
    verified: str | None = None
