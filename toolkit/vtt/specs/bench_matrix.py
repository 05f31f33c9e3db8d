"""A benchmark matrix, the spec of specs/bench/*.yaml: which models and llama-bench parameters to measure.

vtt.harness.matrix expands it into cells (one llama-bench process each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) or value is None else [value]


class BenchMatrix(BaseModel):
    """What to measure. Every parameter takes one value or a list; unset means llama-bench's default."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = None
    models: list[str] = Field(min_length=1)
    n_prompt: list[int] = [512]
    n_gen: list[int] = [128]
    n_depth: list[int] = [0]
    repetitions: int = Field(5, ge=1, le=1000)
    threads: list[int] | None = None
    flash_attn: list[bool] | None = None
    n_ubatch: list[int] | None = None
    n_batch: list[int] | None = None
    type_k: list[str] | None = None
    type_v: list[str] | None = None
    n_gpu_layers: list[int] | None = None
    mmap: list[bool] | None = None

    @field_validator("models", "n_prompt", "n_gen", "n_depth", "threads", "flash_attn", "n_ubatch",
                     "n_batch", "type_k", "type_v", "n_gpu_layers", "mmap", mode="before")
    @classmethod
    def _listify(cls, v):
        return _as_list(v)

    @field_validator("n_prompt", "n_gen", "n_depth", "n_ubatch", "n_batch", "threads")
    @classmethod
    def _non_negative(cls, v):
        if v is not None and any(x < 0 for x in v):
            raise ValueError("values must be >= 0")
        return v


def load_matrix(path: str | Path) -> BenchMatrix:
    """Read and validate a matrix YAML file; errors name file:line:field."""
    from vtt.errors import SpecError
    from vtt.specs.yamlfile import read_yaml, validate

    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise SpecError(f"{doc.where(())}: a bench matrix must be a mapping with at least 'models'")
    return validate(BenchMatrix, doc.data, doc)
