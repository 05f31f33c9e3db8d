"""Hostile or broken GGUF headers: one-line GgufError naming the file, fast, bounded memory."""

from __future__ import annotations

import struct
import time

import pytest

from vtt.errors import GgufError
from vtt.gguf.reader import read_gguf_header


def _s(b: bytes) -> bytes:
    return struct.pack("<Q", len(b)) + b


def _head(n_tensors: int, n_kv: int, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def _kv_u32(key: bytes, v: int) -> bytes:
    return _s(key) + struct.pack("<II", 4, v)


def _tensor(name: bytes, ne: list[int], typ: int = 0, offset: int = 0) -> bytes:
    return _s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne) + struct.pack("<IQ", typ, offset)


CASES = {
    "wrong magic": (b"GGML" + b"\0" * 60, "bad magic"),
    "empty file": (b"", "shorter than"),
    "version 99": (_head(0, 0, 99), "unsupported version 99"),
    "version 1": (_head(0, 0, 1), "unsupported version 1"),
    "2**62 tensors": (_head(2**62, 2**62), "tensor count"),
    "2**62 kvs": (_head(0, 2**62), "metadata count"),
    "string 2**40": (_head(0, 1) + struct.pack("<Q", 2**40) + b"general.architecture", "length 1099511627776"),
    "value string 2**40": (_head(0, 1) + _s(b"k") + struct.pack("<IQ", 8, 2**40), "length"),
    "array 2**40": (_head(0, 1) + _s(b"k") + struct.pack("<IIQ", 9, 4, 2**40), "array length"),
    "unknown value type": (_head(0, 1) + _s(b"k") + struct.pack("<I", 77), "unknown value type 77"),
    "unknown array type": (_head(0, 1) + _s(b"k") + struct.pack("<IIQ", 9, 55, 1), "unknown array element type"),
    "deep nesting": (_head(0, 1) + _s(b"k") + struct.pack("<IIQ", 9, 9, 1) + struct.pack("<IQ", 9, 1)
                     + struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 4, 0), "nested"),
    "truncated kv": (_head(0, 1) + _s(b"general.architecture") + struct.pack("<IQ", 8, 10) + b"lla", "truncated"),
    "unknown ggml type": (_head(1, 0) + _tensor(b"w", [32, 2], typ=200), "unknown ggml type id 200"),
    "zero dimension": (_head(1, 0) + _tensor(b"w", [32, 0]), "dimension 0"),
    "absurd shape": (_head(1, 0) + _tensor(b"w", [2**31, 2**31, 2**31]), "absurd shape"),
    "five dims": (_head(1, 0) + _s(b"w") + struct.pack("<I", 5), "5 dimensions"),
    "misaligned offset": (_head(1, 0) + _tensor(b"w", [32], offset=3), "not aligned"),
    "block size": (_head(1, 0) + _tensor(b"w", [33, 2], typ=8), "block size"),  # q8_0 rows of 33
    "data past eof": (_head(1, 0) + _tensor(b"w", [1024, 1024]), "past the end of the file"),
    "duplicate key": (_head(0, 2) + _kv_u32(b"a", 1) + _kv_u32(b"a", 2), "duplicate metadata key"),
    "bad alignment": (_head(0, 1) + _kv_u32(b"general.alignment", 3), "alignment"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_header_gives_one_line_gguf_error(tmp_path, name):
    data, want = CASES[name]
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    t0 = time.perf_counter()
    with pytest.raises(GgufError) as e:
        read_gguf_header(path)
    assert time.perf_counter() - t0 < 0.5
    msg = e.value.message
    assert "\n" not in msg and "gguf" in msg and "bad.gguf" in msg and want in msg


def test_missing_file_says_no_such_file(tmp_path):
    with pytest.raises(GgufError, match="no such file"):
        read_gguf_header(tmp_path / "none.gguf")


def test_directory_is_not_a_gguf(tmp_path):
    with pytest.raises(GgufError, match="directory"):
        read_gguf_header(tmp_path)
