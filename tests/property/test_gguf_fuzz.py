"""Random damage to a valid header: only GgufError ever comes out, each within a second."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gguf_models import write_tiny
from hypothesis import example, given
from hypothesis import strategies as st

from vtt.errors import GgufError
from vtt.gguf.reader import read_gguf_header
from vtt.gguf.source import BytesSource

_CACHE: dict[str, bytes] = {}


def _valid(tmp: Path) -> bytes:
    """A small qwen3moe GGUF cut right after its header (tensor infos intact, data dropped)."""
    if "b" not in _CACHE:
        path = write_tiny("qwen3moe", tmp, "q8_0", n_vocab=260)
        h = read_gguf_header(path)
        _CACHE["b"] = path.read_bytes()[: h.header_bytes]
    return _CACHE["b"]


@pytest.fixture(scope="module")
def header(tmp_path_factory) -> bytes:
    return _valid(tmp_path_factory.mktemp("fuzz"))


def _parse(tmp: Path, data: bytes) -> None:
    path = tmp / "x.gguf"
    path.write_bytes(data)
    t0 = time.perf_counter()
    try:
        read_gguf_header(path)
    except GgufError as e:
        assert "gguf" in e.message and "x.gguf" in e.message and "\n" not in e.message
    assert time.perf_counter() - t0 < 1.0


def test_every_truncation_point_gives_gguf_error(header):
    for cut in range(len(header)):
        with pytest.raises(GgufError, match="x.gguf"):
            read_gguf_header(BytesSource(header[:cut], "x.gguf"))


@given(data=st.data())
@example(data=None)
def test_random_truncation_and_byte_flips_only_raise_gguf_error(header, tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("f", numbered=True)
    if data is None:
        _parse(tmp, header[:7])
        return
    cut = data.draw(st.integers(0, len(header)), label="cut")
    buf = bytearray(header[:cut])
    flips = data.draw(st.lists(st.tuples(st.integers(0, max(len(buf) - 1, 0)), st.integers(0, 255)), max_size=8))
    for pos, val in flips:
        if buf:
            buf[pos] = val
    _parse(tmp, bytes(buf))
