"""Remote reads against a hostile 127.0.0.1 server: bounded time, bounded bytes, one clear error."""

from __future__ import annotations

import time

import pytest
from gguf_models import write_tiny
from gguf_mutate import STRING, UINT32, ARRAY, encode, typed_items, with_tensor_data
from hostile_http import HostileServer

from vtt.errors import GgufError, RemoteError, VttError
from vtt.gguf.reader import read_gguf_header


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small llama GGUF whose header (~360 KB, 16k-token vocab) takes more than one request."""
    d = tmp_path_factory.mktemp("hostile")
    p = write_tiny("llama", d, "f16", n_vocab=16384, n_embd=256)
    return p.read_bytes()


@pytest.fixture
def short_deadline(monkeypatch):
    monkeypatch.setenv("VTT_REMOTE_DEADLINE_S", "2")


def _timed_error(url, kind=VttError):
    t0 = time.monotonic()
    with pytest.raises(kind) as e:
        read_gguf_header(url)
    return e.value, time.monotonic() - t0


def test_honest_server_reads_under_twice_the_header(model):
    with HostileServer("honest", {"m.gguf": model}) as srv:
        h = read_gguf_header(srv.url("m.gguf"))
    assert h.arch == "llama" and srv.sent == h.bytes_read <= 2 * h.header_bytes


def test_dripping_body_fails_at_the_deadline(model, short_deadline):
    with HostileServer("drip", {"m.gguf": model}, drip_s=0.2) as srv:
        e, dt = _timed_error(srv.url("m.gguf"), RemoteError)
    assert "deadline" in e.message and srv.url("m.gguf") in e.message and dt < 4


def test_dripping_headers_fail_at_the_deadline(model, short_deadline):
    with HostileServer("drip_head", {"m.gguf": model}, drip_s=0.2) as srv:
        e, dt = _timed_error(srv.url("m.gguf"), RemoteError)
    assert "deadline" in e.message and dt < 4


def test_range_reply_that_starts_elsewhere_is_refused(model):
    with HostileServer("range_lie", {"m.gguf": model}) as srv:
        e, dt = _timed_error(srv.url("m.gguf"), RemoteError)
    assert "Range" in e.message and dt < 2


def test_header_flood_is_a_remote_error(model):
    with HostileServer("huge_head", {"m.gguf": model}) as srv:
        e, dt = _timed_error(srv.url("m.gguf"), RemoteError)
    assert dt < 2


def test_endless_body_ignoring_range_is_cut_by_the_byte_cap(monkeypatch):
    junk = b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (1).to_bytes(8, "little")
    junk += (1).to_bytes(8, "little") + b"k" + (9).to_bytes(4, "little") + (8).to_bytes(4, "little")
    junk += (2**20).to_bytes(8, "little") + (b"\x10" + b"\0" * 7 + b"s" * 16) * 40000
    monkeypatch.setenv("VTT_REMOTE_MAX_BYTES", str(2**20))
    with HostileServer("no_range", {"m.gguf": junk}, endless=True) as srv:
        e, dt = _timed_error(srv.url("m.gguf"), GgufError)
    assert "cap" in e.message and dt < 3


def _split(tmp_path, junk_part2: bool) -> dict[str, bytes]:
    p = write_tiny("llama", tmp_path, "f16", n_vocab=300)
    h = read_gguf_header(p)
    items = typed_items(h) + [("split.no", UINT32, 0, None), ("split.count", UINT32, 3, None),
                              ("split.tensors.count", UINT32, len(h.tensors), None)]
    thirds = [h.tensors[i::3] for i in range(3)]
    from gguf_mutate import _reoffset

    files = {}
    for k, ts in enumerate(thirds):
        ts = _reoffset(ts)
        its = items if k == 0 else [("split.no", UINT32, k, None), ("split.count", UINT32, 3, None),
                                     ("split.tensors.count", UINT32, len(h.tensors), None)]
        if k == 1 and junk_part2:
            its = its + [("junk", ARRAY, ["x" * 500] * 20000, STRING)]
        files[f"m-{k + 1:05d}-of-00003.gguf"] = with_tensor_data(encode(its, ts), ts)
    return files


def test_split_model_reads_every_part(tmp_path):
    files = _split(tmp_path, junk_part2=False)
    with HostileServer("honest", files) as srv:
        h = read_gguf_header(srv.url("m-00001-of-00003.gguf"))
    assert h.parts == 3 and srv.sent == h.bytes_read


def test_junk_metadata_in_a_later_part_costs_no_download(tmp_path):
    files = _split(tmp_path, junk_part2=True)
    with HostileServer("honest", files) as srv:
        e, dt = _timed_error(srv.url("m-00001-of-00003.gguf"), GgufError)
    assert "split part 2" in e.message
    first = len(read_gguf_header_bytes(files["m-00001-of-00003.gguf"]))
    assert srv.sent < 2 * first + 2 * 2**20, srv.sent  # not the 10 MB of junk


def read_gguf_header_bytes(data: bytes) -> bytes:
    from vtt.gguf.source import BytesSource

    h = read_gguf_header(BytesSource(data, "x.gguf"))
    return data[:h.header_bytes]


def test_fifo_named_gguf_is_refused_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    with pytest.raises(GgufError, match="not a regular file"):
        read_gguf_header(fifo)
    assert time.monotonic() - t0 < 1


def test_memory_follows_the_answer_not_the_header_size(tmp_path):
    """A 64 MiB header (2.6M tokens, 16M float scores) is read in well under its own size of memory."""
    import struct
    import subprocess
    import sys

    n = 2_600_000
    tok = struct.pack("<Q", 16) + b"t" * 16
    parts = [b"GGUF", struct.pack("<IQQ", 3, 0, 3),
             struct.pack("<Q", 20) + b"general.architecture" + struct.pack("<IQ", 8, 5) + b"llama",
             struct.pack("<Q", 21) + b"tokenizer.ggml.tokens" + struct.pack("<IIQ", 9, 8, n), tok * n,
             struct.pack("<Q", 21) + b"tokenizer.ggml.scores" + struct.pack("<IIQ", 9, 6, 16_000_000),
             b"\0" * 64_000_000]
    path = tmp_path / "big.gguf"
    path.write_bytes(b"".join(parts))
    code = ("import resource, sys; from vtt.gguf.reader import read_gguf_header; "
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
            "h = read_gguf_header(sys.argv[1]); "
            "print(len(h.metadata['tokenizer.ggml.tokens']), "
            "(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    count, grew_mib = map(int, out.stdout.split())
    assert count == n and grew_mib < 40, (path.stat().st_size >> 20, grew_mib)
