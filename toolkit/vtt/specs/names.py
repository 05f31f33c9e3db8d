"""Names people type: catalog ids, aliases, the seed's names (GLM-4.7-Flash-Q8), GGUF file names
(Qwen3-Coder-30B-A3B-Instruct-UD-Q4_K_XL-00001-of-00002.gguf) -> (model, quant)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vtt.specs.catalog import World

_SHARD = re.compile(r"[-.]\d{5}-of-\d{5}$", re.I)
# Words that name a release flavour, not a different architecture.
_FLAVOURS = {"instruct", "it", "chat", "thinking", "base", "hf", "gguf", "2507", "2503", "2506", "i1", "imat", "imatrix", "moe", "coder"}


# A trailing date (0731, 250731, 20250731) or point release (the 7 of M2.7) of a catalogued
# architecture: the same weights' shapes, a newer checkpoint. Resolved with a note, never silently.
_DATE = re.compile(r"^(\d{4}|\d{6}|\d{8})$")
_POINT = re.compile(r"^\d{1,2}$")


@dataclass(frozen=True)
class NameParts:
    model_id: str
    quant_id: str | None
    note: str | None = None  # set when a release suffix was dropped to find the architecture


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
        head = tokens[:-k]
        ud = bool(head) and head[-1].lower() == "ud"  # an Unsloth Dynamic mix the catalog lacks
        found = _find_model_tokens(head[:-1] if ud else head, world)
        if found:
            note = _note(name, found)
            if ud:
                note = "; ".join(filter(None, [note, f"UD-{q.id} is not in the catalog: answered with {q.id}'s recipe "
                                                      "(pass --file-size-gib for the file's real size)"]))
            return NameParts(found[0], q.id, note)
    found = _find_model_tokens(tokens, world)
    return NameParts(found[0], None, _note(name, found)) if found else None


def _note(name: str, found: tuple[str, list[str]]) -> str | None:
    mid, dropped = found
    if not dropped:
        return None
    return (f"'{name}' read as {mid}: release suffix '{'-'.join(dropped)}' is not in the catalog, "
            f"answered for {mid}'s architecture (same shapes assumed)")


def _find_model_tokens(tokens: list[str], world: World) -> tuple[str, list[str]] | None:
    """(model id, release-suffix tokens dropped to find it). Flavour words (Instruct, GGUF ...)
    are dropped silently: trailing ones first, so Qwen3-Coder-30B-A3B-Instruct stays a coder."""
    toks = [t for t in tokens if t]
    dropped: list[str] = []
    while toks:
        m = world.find_model("-".join(toks))
        if m:
            return m.id, dropped
        last = toks[-1]
        if last.lower() in _FLAVOURS:
            toks = toks[:-1]
            continue
        if len(toks) > 1 and (_DATE.match(last) or (_POINT.match(last) and any(c.isdigit() for c in toks[-2]))):
            dropped.insert(0, last)
            toks = toks[:-1]
            continue
        break
    toks = [t for t in tokens if t]
    kept = [t for t in toks if t.lower() not in _FLAVOURS]
    while kept and kept != toks:
        m = world.find_model("-".join(kept))
        if m:
            return m.id, []
        if len(kept) > 1 and _DATE.match(kept[-1]):
            m = world.find_model("-".join(kept[:-1]))
            if m:
                return m.id, [kept[-1]]
        break
    return None


def looks_like_gguf(name: str) -> bool:
    return name.lower().endswith(".gguf") or name.startswith(("http://", "https://", "/", "./", "../", "~"))

