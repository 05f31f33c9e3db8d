"""ggml tensor types: block size and bytes per block, from the `gguf` package's own table.

`import gguf` costs ~0.25 s (it loads its reader, writer and vocab modules), which would
break `vtt plan`'s start-up budget; its `constants.py` imports only the standard library,
so we load that one file on its own.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from types import ModuleType


@lru_cache(maxsize=1)
def gguf_constants() -> ModuleType:
    if "gguf.constants" in sys.modules:
        return sys.modules["gguf.constants"]
    spec = importlib.util.find_spec("gguf")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - gguf is a dependency
        import gguf.constants as c

        return c
    path = next(iter(spec.submodule_search_locations)) + "/constants.py"
    cspec = importlib.util.spec_from_file_location("vtt._gguf_constants", path)
    mod = importlib.util.module_from_spec(cspec)
    cspec.loader.exec_module(mod)
    return mod


@lru_cache(maxsize=1)
def type_table() -> dict[str, tuple[int, int, int]]:
    """lower-case ggml type name -> (type id, block size, bytes per block)."""
    from vtt.cache import disk_cached, file_key

    spec = importlib.util.find_spec("gguf")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - gguf is a dependency
        return _table()
    # Executing constants.py (hundreds of enum members) costs ~20 ms of every cold `vtt plan`.
    path = next(iter(spec.submodule_search_locations)) + "/constants.py"
    return disk_cached("ggml-types", file_key(path), _table)


def _table() -> dict[str, tuple[int, int, int]]:
    c = gguf_constants()
    out = {}
    for t, (blck, size) in c.GGML_QUANT_SIZES.items():
        out[t.name.lower()] = (int(t.value), int(blck), int(size))
    return out


@lru_cache(maxsize=1)
def type_by_id() -> dict[int, str]:
    return {tid: name for name, (tid, _, _) in type_table().items()}


def type_name(name_or_id: str | int) -> str:
    if isinstance(name_or_id, int):
        return type_by_id()[name_or_id]
    n = name_or_id.lower()
    if n not in type_table():
        raise KeyError(name_or_id)
    return n


def bits_per_weight(name: str) -> float:
    _, blck, size = type_table()[name.lower()]
    return 8.0 * size / blck


def row_bytes(name: str, ne0: int) -> int:
    """ggml_row_size: bytes of one row of ne0 elements."""
    _, blck, size = type_table()[name.lower()]
    return (ne0 // blck) * size


def tensor_bytes(name: str, shape: tuple[int, ...] | list[int]) -> int:
    n_rows = 1
    for d in shape[1:]:
        n_rows *= int(d)
    return row_bytes(name, int(shape[0])) * n_rows


def block_size(name: str) -> int:
    return type_table()[name.lower()][1]
