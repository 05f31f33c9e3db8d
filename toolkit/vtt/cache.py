"""A start-up cache of parsed files: what a slow parse returned last time for the same inputs.

`vtt plan` runs as a new process per question, so the validated spec World (vtt.specs.catalog),
calibration files (vtt.calibration) and ggml's type table (vtt.ggml_types) are pickled under
$XDG_CACHE_HOME/vtt/parsed/. A key is a string naming every input (paths, sizes, mtimes,
versions); a different key is a miss, and a miss or an unreadable cache file just parses again.
The cache never changes an answer, only the start-up time. Imports nothing from vtt.
"""

from __future__ import annotations

import os
from pathlib import Path

KEEP = 32  # newest entries kept; overlays in tests and edits make new keys


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vtt" / "parsed"


def file_key(path: str | Path) -> str:
    st = Path(path).stat()
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


def disk_cached(kind: str, key: str, build):
    """`build()`, or what it returned last time for the same `key`."""
    import pickle
    import zlib

    path = cache_dir() / f"{kind}-{zlib.crc32(key.encode()):08x}.pickle"  # the full key is checked below
    try:
        with open(path, "rb") as f:
            stored_key, value = pickle.load(f)
        if stored_key == key:
            return value
    except Exception:  # no cache yet, an old format, a damaged file: build it
        pass
    value = build()
    _write(path, (key, value))
    return value


def _write(path: Path, entry: tuple) -> None:
    import pickle
    import tempfile

    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, suffix=".tmp", delete=False) as f:
            tmp = f.name
            pickle.dump(entry, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # atomic: a concurrent reader sees no file or the whole file
        tmp = None
        for old in sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime)[:-KEEP]:
            old.unlink(missing_ok=True)
    except Exception:
        pass  # a read-only home or a full disk: no cache, same answers
    finally:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
