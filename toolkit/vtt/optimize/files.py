"""Real GGUF files for an export: scan a models folder and match each file to a catalog model and quant.

A file counts only if it starts with the GGUF magic; of a split model (`-00001-of-00003.gguf`) the first
part is what llama-server's `-m` takes (llama.cpp loads the other parts beside it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class GgufFile:
    path: Path
    model: str      # catalog model id
    quant: str      # catalog quant id


def _is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


def scan_models_dir(folder: Path, world) -> dict[tuple[str, str], GgufFile]:
    """(model id, quant id) -> file, for every GGUF under `folder` whose name resolves in the catalog."""
    from vtt.errors import BadQuery
    from vtt.specs.names import split_name

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise BadQuery(f"models dir {folder} is not a folder")
    out: dict[tuple[str, str], GgufFile] = {}
    for path in sorted(folder.rglob("*")):
        if not path.name.lower().endswith(".gguf") or not path.is_file():
            continue
        m = _SPLIT.search(path.name)
        if m and int(m.group(1)) != 1:
            continue
        stem = _SPLIT.sub("", path.name) if m else path.name[:-5]
        parts = split_name(stem, world)
        if parts is None or parts.quant_id is None or not _is_gguf(path):
            continue
        out.setdefault((parts.model_id, parts.quant_id), GgufFile(path, parts.model_id, parts.quant_id))
    return out
