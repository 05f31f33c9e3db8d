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


def parse_yaml(text: str, file: str) -> LocatedDoc:
    """Parse one YAML document; a syntax error becomes a SpecError naming file and line."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise SpecError(f"{file}{line}: invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{file}: invalid YAML: {e}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return LocatedDoc(data, lines, file)


def read_yaml(path: str | Path) -> LocatedDoc:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
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
