"""Names people type: catalog ids, aliases, the seed's names (GLM-4.7-Flash-Q8), GGUF file names
(Qwen3-Coder-30B-A3B-Instruct-UD-Q4_K_XL-00001-of-00002.gguf) -> (model, quant)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vtt.specs.catalog import World

_SHARD = re.compile(r"[-.]\d{5}-of-\d{5}$", re.I)
# Words that name a release flavour, not a different architecture.
_FLAVOURS = {"instruct", "it", "chat", "thinking", "base", "hf", "gguf", "2507", "2503", "2506", "i1", "imat", "imatrix", "moe", "coder"}


@dataclass(frozen=True)
class NameParts:
    model_id: str
    quant_id: str | None


def split_name(name: str, world: World) -> NameParts | None:
    """Find the catalog model (and quant, if the name carries one) that `name` means."""
    m = world.find_model(name)  # an id or alias as typed, '/' included (gpt-oss/20b)
    if m:
        return NameParts(m.id, None)
    base = name.rsplit("/", 1)[-1]
    if base.lower().endswith(".gguf"):
        base = base[:-5]
    base = _SHARD.sub("", base)
    m = world.find_model(base)
    if m:
        return NameParts(m.id, None)
    tokens = re.split(r"[-.\s]", base)
    # longest quant suffix first: "UD-Q4_K_XL" is two tokens
    for k in (3, 2, 1):
        if len(tokens) <= k:
            continue
        q = world.find_quant("-".join(tokens[-k:]))
        if q is None:
            continue
        mid = _find_model_tokens(tokens[:-k], world)
        if mid:
            return NameParts(mid, q.id)
    mid = _find_model_tokens(tokens, world)
    return NameParts(mid, None) if mid else None


def _find_model_tokens(tokens: list[str], world: World) -> str | None:
    toks = [t for t in tokens if t]
    while toks:
        m = world.find_model("-".join(toks))
        if m:
            return m.id
        kept = [t for t in toks if t.lower() not in _FLAVOURS]
        if kept != toks:
            m = world.find_model("-".join(kept))
            if m:
                return m.id
        if toks[-1].lower() in _FLAVOURS:
            toks = toks[:-1]
            continue
        return None
    return None


def looks_like_gguf(name: str) -> bool:
    return name.lower().endswith(".gguf") or name.startswith(("http://", "https://", "/", "./", "../", "~"))

