"""Random damage to a valid header: only GgufError ever comes out, each within a second."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gguf_models import write_tiny
from hypothesis import example, given, settings
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


# ---- value fuzzing: valid framing, hostile values (the crashes an outside test found) ----------

_VALUE_BASES: dict[str, tuple] = {}


@pytest.fixture(scope="module")
def value_bases(tmp_path_factory):
    from gguf_mutate import typed_items

    if not _VALUE_BASES:
        d = tmp_path_factory.mktemp("vbase")
        for kind, wt in (("llama", "f16"), ("qwen3moe", "q8_0"), ("deepseek2", "f16"), ("gemma3", "f16"),
                         ("gpt-oss", "mxfp4")):
            h = read_gguf_header(write_tiny(kind, d, wt, n_vocab=300))
            _VALUE_BASES[kind] = (typed_items(h), h.tensors)
    return _VALUE_BASES


@settings(max_examples=60, deadline=None)  # a fixed budget: a few seconds in CI
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["llama", "qwen3moe", "deepseek2", "gemma3", "gpt-oss"]))
def test_hostile_values_in_valid_headers_give_vtt_errors_or_sane_answers(value_bases, tmp_path_factory, seed, kind):
    """One or two hyper-parameters replaced (string, NaN, inf, 0, 4e9, lists ...) in a real header:
    the whole `vtt plan FILE` path answers with finite, non-negative numbers or a VttError, in < 2 s."""
    import math
    import random

    from gguf_mutate import encode, mutate, write_sparse

    from vtt.errors import VttError
    from vtt.plan import plan_many

    items, tensors = value_bases[kind]
    it, ts = mutate(items, tensors, random.Random(seed))
    path = tmp_path_factory.mktemp("v", numbered=True) / "m.gguf"
    write_sparse(path, encode(it, ts), ts)
    t0 = time.perf_counter()
    try:
        from vtt.gguf.arch import arch_from_header

        arch_from_header(read_gguf_header(path))
    except VttError as e:
        assert "\n" not in e.message and "\x1b" not in e.message
    ans = plan_many([{"model": str(path), "context": 4096}])[0]
    assert time.perf_counter() - t0 < 2.0
    if "error" not in ans:
        for k, v in ans.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                assert math.isfinite(v) and (v >= 0 or "headroom" in k), (k, v)


@settings(max_examples=12, deadline=None)
@given(behaviour=st.sampled_from(["honest", "range_lie", "huge_head", "no_range"]),
       cut=st.integers(0, 4096), flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=4))
def test_hostile_servers_with_damaged_headers_only_raise_vtt_errors(header, behaviour, cut, flips):
    """A damaged header served by a lying server: a VttError (GgufError/RemoteError) or a header, fast."""
    from hostile_http import HostileServer

    from vtt.errors import VttError

    buf = bytearray(header[: max(cut, 1)] if cut < len(header) else header)
    for pos, val in flips:
        buf[pos % len(buf)] = val
    t0 = time.perf_counter()
    with HostileServer(behaviour, {"m.gguf": bytes(buf)}) as srv:
        try:
            read_gguf_header(srv.url("m.gguf"))
        except VttError as e:
            assert "\n" not in e.message
    assert time.perf_counter() - t0 < 3.0


def test_a_long_hostile_key_does_not_push_the_file_name_out_of_the_message():
    """Hypothesis found it: a byte flip made a key swallow the tokenizer's strings, and 'unknown value type
    ... at key <3,000 characters>' cut the message before ' in x.gguf'."""
    import struct

    key = b"tokenizer." + b"\x08\x00<0x41>" * 400
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key + struct.pack("<I", 1127381040)
    with pytest.raises(GgufError) as e:
        read_gguf_header(BytesSource(data, "x.gguf"))
    assert "unknown value type 1127381040" in e.value.message and e.value.message.endswith(" in x.gguf")
