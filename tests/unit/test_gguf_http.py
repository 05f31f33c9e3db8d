"""read_gguf_header over HTTP: Range requests read the header only; failures are RemoteError."""

from __future__ import annotations

import socket
import time

import pytest
from gguf_models import RangeServer, write_tiny

from vtt.errors import RemoteError
from vtt.gguf.reader import read_gguf_header
from vtt.gguf.source import HttpSource


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A ~33 MiB llama GGUF (big vocab makes big embeddings) whose header is ~20 KiB."""
    d = tmp_path_factory.mktemp("srv")
    write_tiny("llama", d, "f16", n_vocab=16384, n_embd=512, head_dim_k=64, head_dim_v=64)
    return d


def test_range_reads_fetch_a_small_fraction_of_the_file(served):
    path = served / "llama-f16.gguf"
    local = read_gguf_header(path)
    with RangeServer(served) as srv:
        h = read_gguf_header(srv.url(path.name))
        assert srv.sent == h.bytes_read
    assert h.bytes_read <= 2 * h.header_bytes < path.stat().st_size // 20  # growing chunks, no weights
    assert h.tensor_bytes == local.tensor_bytes and h.metadata == local.metadata
    assert h.file_size == path.stat().st_size


def test_redirects_are_followed(served):
    with RangeServer(served) as srv:
        h = read_gguf_header(f"http://127.0.0.1:{srv.port}/redirect/llama-f16.gguf")
    assert h.arch == "llama"


def test_server_ignoring_range_is_not_downloaded_whole(served):
    size = (served / "llama-f16.gguf").stat().st_size
    with RangeServer(served, honour_range=False) as srv:
        h = read_gguf_header(srv.url("llama-f16.gguf"))
        time.sleep(0.2)  # let the server notice the closed connection
        assert srv.sent < size // 2
    assert h.arch == "llama" and h.bytes_read <= 2 * h.header_bytes


def test_missing_url_is_a_remote_error_naming_it(served):
    with RangeServer(served) as srv:
        url = srv.url("nope.gguf")
        with pytest.raises(RemoteError, match="404") as e:
            read_gguf_header(url)
    assert url in e.value.message


def test_refused_port_is_a_remote_error_naming_the_url():
    t0 = time.perf_counter()
    with pytest.raises(RemoteError) as e:
        read_gguf_header("http://127.0.0.1:9/x.gguf")
    assert e.value.message == "refused URL http://127.0.0.1:9/x.gguf: connection refused"
    assert time.perf_counter() - t0 < 2


def test_silent_server_times_out_with_remote_error():
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)  # accepts the TCP connection, never answers
    url = f"http://127.0.0.1:{lsock.getsockname()[1]}/m.gguf"
    try:
        with pytest.raises(RemoteError, match="timed out") as e:
            HttpSource(url, read_timeout_s=0.3).read(0, 100)
        assert url in e.value.message
    finally:
        lsock.close()
