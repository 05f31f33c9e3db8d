"""Shared base for specs: strict about unknown keys so typos are caught.

Spec modules take Spec, Field and the validator decorators from here, not from pydantic: with
vtt.lightweight active (`vtt plan`'s start-up from the cached World) they are its stand-ins.
"""

from __future__ import annotations

from vtt import lightweight

if lightweight.ACTIVE:
    from vtt.lightweight import ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
    from vtt.lightweight import LightModel as BaseModel
else:
    from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

__all__ = ["BaseModel", "ConfigDict", "Field", "PrivateAttr", "ValidationError", "Source", "Spec",
           "field_validator", "model_validator"]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # validators built on first use: a cached World (vtt.specs.catalog) needs none


class Source(Spec):
    """Where a fact came from. `verified`: V primary source, C consistent copies, M unverified."""

    url: str
    note: str | None = None
    verified: str | None = None
