"""Serve workloads: the requests `vtt bench serve` sends to a llama-server (specs/bench/workloads/).

A request is a chat: a system prefix (shared by every request naming the same `prefix`, so the
server can serve it from its prompt cache), new user tokens, and a fixed number of output tokens.
Token counts are targets; the prompt text is made to that count with the server's own /tokenize.
"""

from __future__ import annotations

from pathlib import Path

from vtt.errors import BadQuery
from vtt.specs.base import Field, Spec, model_validator

# Chat template tokens around the two messages (ChatML: about 10); added to the context we ask for.
TEMPLATE_MARGIN_TOKENS = 64


class WorkloadRequest(Spec):
    id: str
    prefix: str | None = Field(default=None, description="name of the shared system prefix (same name, same text)")
    prefix_tokens: int = Field(default=0, ge=0)
    new_tokens: int = Field(default=16, ge=1, description="fresh user tokens (never cached)")
    output_tokens: int = Field(default=16, ge=2, description="tokens generated (end-of-text ignored)")
    repeat: int = Field(default=1, ge=1, description="send it this many times; repeats after the first hit the cache")
    mode: str | None = Field(default=None, description="the editor mode this request stands for")

    @property
    def total_tokens(self) -> int:
        return self.prefix_tokens + self.new_tokens + self.output_tokens


class Workload(Spec):
    id: str
    name: str
    notes: str | None = None
    requests: list[WorkloadRequest]
    n_ctx: int | None = Field(default=None, ge=256, description="server context; default: the largest request + margin")

    @model_validator(mode="after")
    def _check(self):
        ids = [r.id for r in self.requests]
        if not ids:
            raise ValueError("a workload needs at least one request")
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate request ids in workload {self.id}")
        sizes: dict[str, int] = {}
        for r in self.requests:
            if r.prefix is not None and sizes.setdefault(r.prefix, r.prefix_tokens) != r.prefix_tokens:
                raise ValueError(f"prefix '{r.prefix}' has two sizes")
        return self

    def context_needed(self) -> int:
        """Smallest multiple of 256 holding the largest request plus the chat template."""
        need = max(r.total_tokens for r in self.requests) + TEMPLATE_MARGIN_TOKENS
        return -(-need // 256) * 256

    def expanded(self) -> list[tuple[str, WorkloadRequest, int]]:
        """(key, request, repetition) in sending order; the key is what --resume skips on."""
        return [(f"{r.id}#{i}", r, i) for r in self.requests for i in range(r.repeat)]


def workloads_dirs() -> list[Path]:
    from vtt.specs.catalog import spec_roots

    return [root / "bench" / "workloads" for root in spec_roots()]


def available_workloads() -> list[str]:
    return sorted({p.stem for d in workloads_dirs() if d.is_dir() for p in d.glob("*.yaml")})


def load_workload(name_or_file: str | Path) -> Workload:
    """A workload by built-in name (specs/bench/workloads/NAME.yaml) or by file path."""
    from vtt.specs.yamlfile import read_yaml, validate

    text = str(name_or_file)
    path = Path(text).expanduser()
    if not (path.suffix in (".yaml", ".yml") or path.is_file()):
        path = next((d / f"{text}.yaml" for d in workloads_dirs() if (d / f"{text}.yaml").is_file()), None)
        if path is None:
            raise BadQuery(f"unknown workload '{text}'",
                           hint=f"built-in workloads: {', '.join(available_workloads()) or '(none)'}; or give a YAML file")
    doc = read_yaml(path)
    return validate(Workload, doc.data, doc)
