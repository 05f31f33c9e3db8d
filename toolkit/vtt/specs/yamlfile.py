"""Read YAML keeping the line of every value, so errors can say file:line:field.

PyYAML's composer gives node marks; we construct the document from the same node tree
(one parse) and record a path -> line map beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vtt.errors import SpecError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A spec is hand-written data of a few KB (the largest shipped is 24 KB). Aliases are fine in
# moderation; expanded, a 0.6 KB "billion laughs" file is billions of nodes, so the expanded
# tree is measured (stopping at the budget) before anything walks or constructs it.
MAX_YAML_BYTES = 4 * 2**20
MAX_EXPANDED_NODES = 200_000
MAX_ALIAS_USES = 10_000
MAX_DEPTH = 200

Path_ = tuple  # a path into the document: ("models", 0, "n_layer")


class LocatedDoc:
    """A parsed YAML document plus the line (1-based) of each path in it."""

    def __init__(self, data: Any, lines: dict[tuple, int], file: str):
        self.data = data
        self.lines = lines
        self.file = file

    def line_of(self, path: tuple) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)

    def where(self, path: tuple) -> str:
        line = self.line_of(path)
        return f"{self.file}:{line}" if line else self.file


def _walk(node: yaml.Node, path: tuple, lines: dict) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            lines[path + (key,)] = k.start_mark.line + 1
            _walk(v, path + (key,), lines)
            lines[path + (key,)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _walk(v, path + (i,), lines)


def _check_expansion(root: yaml.Node, file: str) -> None:
    """Refuse alias bombs, recursive aliases and absurd nesting before constructing anything.

    A node reached twice was reached through an alias; a node reached again while inside
    itself is a recursive alias. The walk stops as soon as a budget is spent, so its own cost
    is bounded.
    """
    seen: set[int] = set()
    visits = reuses = 0
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    open_ids: set[int] = set()
    while stack:
        node, depth, leaving = stack.pop()
        if leaving:
            open_ids.discard(id(node))
            continue
        line = node.start_mark.line + 1
        if id(node) in open_ids:
            raise SpecError(f"{file}:{line}: recursive YAML alias (a node that contains itself)")
        visits += 1
        if id(node) in seen:
            reuses += 1
        seen.add(id(node))
        if visits > MAX_EXPANDED_NODES or reuses > MAX_ALIAS_USES:
            raise SpecError(f"{file}:{line}: YAML aliases expand past {MAX_EXPANDED_NODES:,} nodes "
                            f"(an alias bomb?); write the values out instead")
        if depth > MAX_DEPTH:
            raise SpecError(f"{file}:{line}: YAML nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            open_ids.add(id(node))
            stack.append((node, depth, True))
            children = [c for kv in node.value for c in kv] if isinstance(node, yaml.MappingNode) else node.value
            stack.extend((c, depth + 1, False) for c in reversed(children))


def parse_yaml(text: str, file: str) -> LocatedDoc:
    """Parse one YAML document; a syntax error becomes a SpecError naming file and line."""
    if len(text) > MAX_YAML_BYTES:
        raise SpecError(f"{file}: spec file larger than {MAX_YAML_BYTES >> 20} MiB")
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_expansion(node, file)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise SpecError(f"{file}{line}: invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{file}: invalid YAML: {e}") from None
    except RecursionError:
        raise SpecError(f"{file}: YAML nested too deeply") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return LocatedDoc(data, lines, file)


def read_yaml(path: str | Path) -> LocatedDoc:
    p = Path(path)
    try:
        if p.exists() and not p.is_file() and not p.is_dir():
            raise SpecError(f"{p}: not a regular file")
        if p.is_file() and p.stat().st_size > MAX_YAML_BYTES:
            raise SpecError(f"{p}: spec file larger than {MAX_YAML_BYTES >> 20} MiB")
        with p.open(encoding="utf-8") as f:
            text = f.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(f"{p}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{p}: cannot read spec file: {e}") from None
    return parse_yaml(text, str(p))


def validate(model_cls, data: Any, doc: LocatedDoc, path: tuple = ()):
    """Validate `data` (found at `path` in `doc`) as `model_cls`; errors name file:line:field."""
    from pydantic import ValidationError

    try:
        return model_cls.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = path + tuple(err["loc"])
        field = ".".join(str(x) for x in loc) or "(document)"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise SpecError(f"{doc.where(loc)}: field '{field}': {err['msg']}{more}") from None
