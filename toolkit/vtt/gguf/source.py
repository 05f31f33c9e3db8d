"""Byte sources for GGUF headers: a local file, or an http(s) URL read with Range requests.

Only the header is ever wanted, so a source hands out byte ranges on demand and counts what
it fetched. Over HTTP: redirects are followed (Hugging Face `resolve/` URLs redirect to a
CDN) up to a cap, connect and read have separate timeouts, and a server that ignores Range
(200 with the whole body) is read as a stream only as far as needed, then dropped.
Every failure is a `RemoteError` (network) or `GgufError` (local file) naming the source.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    import http.client

from vtt.errors import GgufError, RemoteError

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0
DEADLINE_S = 60.0  # a whole remote header read (all parts, redirects, retries): VTT_REMOTE_DEADLINE_S
MAX_TOTAL_BYTES = 256 * 2**20  # fetched across all parts of a split model: VTT_REMOTE_MAX_BYTES
MAX_REDIRECTS = 5
USER_AGENT = "vtt-gguf-header/0.1"

_SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


# Extra request headers by host ("host[:port]"), e.g. HF_TOKEN's Authorization for the Hub
# (vtt.gguf.hf): sent only to that host, never to the CDN a redirect leads to.
_HOST_HEADERS: dict[str, dict[str, str]] = {}


def add_host_headers(netloc: str, headers: dict[str, str]) -> None:
    _HOST_HEADERS.setdefault(netloc.lower(), {}).update(headers)


def is_url(s: str | os.PathLike) -> bool:
    return isinstance(s, str) and s.lower().startswith(("http://", "https://"))


def _env_float(name: str, default: float) -> float:
    try:
        v = float(os.environ.get(name, default))
    except ValueError:
        return default
    return v if 0 < v < float("inf") else default


class ReadBudget:
    """Time and bytes one header read may spend, shared by every part of a split model.

    Per-socket timeouts alone do not bound a read: a server that sends a byte every few
    seconds never trips them. The deadline is absolute; a watchdog closes the socket when it
    passes, whatever http.client is blocked in (headers, body, chunk framing).
    """

    def __init__(self, deadline_s: float | None = None, max_bytes: int | None = None):
        self.deadline_s = deadline_s if deadline_s is not None else _env_float("VTT_REMOTE_DEADLINE_S", DEADLINE_S)
        self.deadline = time.monotonic() + self.deadline_s
        self.max_bytes = int(max_bytes if max_bytes is not None
                             else _env_float("VTT_REMOTE_MAX_BYTES", MAX_TOTAL_BYTES))
        self.fetched = 0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def charge(self, n: int, name: str) -> None:
        self.fetched += n
        if self.fetched > self.max_bytes:
            raise GgufError(f"gguf: headers larger than the {self.max_bytes >> 20} MiB read cap "
                            f"(all parts together) in {name}")


class ByteSource:
    """Random access to the first bytes of a file. `read` returns fewer bytes only at EOF."""

    name: str  # what error messages call it: the file name or the URL
    size: int | None = None  # total size when known
    bytes_fetched: int = 0

    def read(self, offset: int, n: int) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FileSource(ByteSource):
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = self.path.name
        try:
            # A FIFO, socket or device named *.gguf would block or never end: refused before open.
            st = os.stat(self.path)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(st.st_mode):
                raise GgufError(f"gguf: {self.path} is not a regular file")
            self._f = open(self.path, "rb")
            st = os.fstat(self._f.fileno())
            if not stat.S_ISREG(st.st_mode):  # swapped between stat and open
                self._f.close()
                raise GgufError(f"gguf: {self.path} is not a regular file")
            self.size = st.st_size
        except FileNotFoundError:
            raise GgufError(f"gguf: no such file {self.path}", code="not_found") from None
        except IsADirectoryError:
            raise GgufError(f"gguf: {self.path} is a directory, not a .gguf file") from None
        except OSError as e:
            raise GgufError(f"gguf: cannot open {self.path}: {e.strerror or e}") from None
        self.bytes_fetched = 0

    def read(self, offset: int, n: int) -> bytes:
        try:
            self._f.seek(offset)
            data = self._f.read(n)
        except OSError as e:
            raise GgufError(f"gguf: cannot read {self.name}: {e.strerror or e}") from None
        self.bytes_fetched += len(data)
        return data

    def close(self) -> None:
        self._f.close()


class BytesSource(ByteSource):
    """Bytes already in memory (tests, or a header fetched by other means)."""

    def __init__(self, data: bytes, name: str = "<bytes>"):
        self.data, self.name, self.size, self.bytes_fetched = bytes(data), name, len(data), 0

    def read(self, offset: int, n: int) -> bytes:
        out = self.data[offset:offset + n]
        self.bytes_fetched += len(out)
        return out


class HttpSource(ByteSource):
    """An http(s) URL read with `Range: bytes=a-b` requests (stdlib only)."""

    def __init__(self, url: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 read_timeout_s: float = READ_TIMEOUT_S, max_redirects: int = MAX_REDIRECTS,
                 budget: ReadBudget | None = None):
        self.budget = budget or ReadBudget()
        self._conn = None  # the connection in use, for the watchdog
        self._expired = False
        self._watchdog: threading.Timer | None = None
        self.url = url
        self.name = url
        self._final_url = url  # after redirects; later ranges go straight there
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.max_redirects = max_redirects
        self.bytes_fetched = 0
        self.size = None
        # A server that ignored Range: its 200 body, kept open and read sequentially.
        self._stream: tuple = None  # (HTTPConnection, HTTPResponse)
        self._stream_pos = 0

    # ---- public ----
    def read(self, offset: int, n: int) -> bytes:
        if n <= 0:
            return b""
        if self.size is not None and offset >= self.size:
            return b""
        if self._stream is not None:
            if offset >= self._stream_pos:
                self._skip_stream(offset - self._stream_pos)
                return self._read_stream(n)
            self._drop_stream()
        return self._request(offset, n)

    def close(self) -> None:
        self._drop_stream()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    # ---- internals ----
    def _deadline_error(self) -> RemoteError:
        return RemoteError(f"no complete answer within the {self.budget.deadline_s:g} s deadline from URL {self.url}",
                           hint="a slow or stalled server; set VTT_REMOTE_DEADLINE_S to wait longer")

    def _expire(self) -> None:
        """Watchdog: the deadline passed; unblock whatever recv/send is waiting on the socket."""
        self._expired = True
        conn = self._conn
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _arm(self) -> None:
        left = self.budget.remaining()
        if left <= 0 or self._expired:
            self._expired = True
            raise self._deadline_error()
        if self._watchdog is None:
            self._watchdog = threading.Timer(left, self._expire)
            self._watchdog.daemon = True
            self._watchdog.start()

    @contextlib.contextmanager
    def _network_errors(self, conn):
        """Socket and HTTP failures become one RemoteError line naming the URL; the connection closes."""
        import http.client

        try:
            yield
        except (TimeoutError, socket.timeout):
            conn.close()
            if self._expired:
                raise self._deadline_error() from None
            raise RemoteError(f"timed out after {self.read_timeout_s:g} s reading URL {self.url}") from None
        except (OSError, http.client.HTTPException, ValueError) as e:
            conn.close()
            if self._expired:
                raise self._deadline_error() from None
            raise RemoteError(f"connection failed ({e.__class__.__name__}) reading URL {self.url}") from None
        except BaseException:
            conn.close()
            raise
        if self._expired:
            conn.close()
            raise self._deadline_error()

    def _fail(self, what: str, why: str) -> RemoteError:
        return RemoteError(f"{what} URL {self.url}: {why}", hint="check the URL, or download the file and pass its path")

    def _connect(self, url: str) -> http.client.HTTPConnection:
        import http.client  # lazy: 20 ms, only URL input pays it
        import ssl

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(f"bad URL {self.url}: expected http(s)://host/path")
        try:
            port = parts.port
        except ValueError:
            raise RemoteError(f"bad URL {self.url}: invalid port") from None
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        kw = {"context": ssl.create_default_context()} if parts.scheme == "https" else {}
        self._arm()
        conn = cls(parts.hostname, port, timeout=max(0.1, min(self.connect_timeout_s, self.budget.remaining())), **kw)
        self._conn = conn
        try:
            conn.connect()
        except ConnectionRefusedError:
            raise self._fail("refused", "connection refused") from None
        except socket.gaierror:
            raise RemoteError(f"unknown host {parts.hostname} in URL {self.url}") from None
        except (TimeoutError, socket.timeout):
            if self._expired:
                raise self._deadline_error() from None
            raise RemoteError(f"timed out after {self.connect_timeout_s:g} s connecting to URL {self.url}") from None
        except ssl.SSLError as e:
            raise RemoteError(f"TLS error ({e.reason or e}) for URL {self.url}") from None
        except OSError as e:
            if self._expired:
                raise self._deadline_error() from None
            raise RemoteError(f"cannot connect ({e.strerror or e}) to URL {self.url}") from None
        conn.sock.settimeout(self.read_timeout_s)
        if self._expired:  # the watchdog fired during connect, before the socket existed
            conn.close()
            raise self._deadline_error()
        return conn

    def _request(self, offset: int, n: int) -> bytes:
        url = self._final_url
        for _ in range(self.max_redirects + 1):
            conn = self._connect(url)
            parts = urlsplit(url)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            headers = {"Range": f"bytes={offset}-{offset + n - 1}", "User-Agent": USER_AGENT,
                       "Accept-Encoding": "identity", **_HOST_HEADERS.get(parts.netloc.lower(), {})}
            with self._network_errors(conn):
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
            status = resp.status
            if status in (301, 302, 303, 307, 308):
                loc = resp.getheader("Location")
                conn.close()
                if not loc:
                    raise RemoteError(f"redirect without Location from URL {self.url}")
                url = urljoin(url, loc)
                continue
            self._final_url = url
            if status == 206:
                start = self._note_size(resp.getheader("Content-Range"))
                if start is not None and start != offset:
                    conn.close()
                    raise RemoteError(f"the server answered bytes from {start} to a request for bytes from "
                                      f"{offset} (a broken Range reply) from URL {self.url}")
                data = self._read_body(conn, resp, n)
                conn.close()
                return data
            if status == 200:  # Range ignored: read only what we need from the stream
                length = resp.getheader("Content-Length")
                if length and length.isdigit():
                    self.size = int(length)
                self._stream = (conn, resp)
                self._stream_pos = 0
                self._skip_stream(offset)
                return self._read_stream(n)
            conn.close()
            if status == 416:  # range starts past the end
                return b""
            if status == 404:
                raise self._fail("not found", "HTTP 404")
            if status in (401, 403):
                raise RemoteError(f"access denied (HTTP {status}) for URL {self.url}",
                                  hint="gated repositories need a token; download the file and pass its path")
            raise RemoteError(f"HTTP {status} {resp.reason} from URL {self.url}")
        raise RemoteError(f"more than {self.max_redirects} redirects from URL {self.url}")

    def _note_size(self, content_range: str | None) -> int | None:
        """The first byte a 206 reply holds (from Content-Range); notes the file size."""
        m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", (content_range or "")[:200])
        if not m:
            return None
        if m.group(2) != "*":
            self.size = int(m.group(2))
        return int(m.group(1))

    def _read_body(self, conn, resp, n: int) -> bytes:
        # read1 returns after one recv: a drip of bytes comes back in small pieces, each one
        # checked against the deadline and the byte budget, instead of one read() that waits.
        out = bytearray()
        with self._network_errors(conn):
            while len(out) < n:
                chunk = resp.read1(min(n - len(out), 1 << 20))
                if not chunk:
                    break
                out += chunk
                self.bytes_fetched += len(chunk)
                self.budget.charge(len(chunk), self.url)
                if self._expired:
                    break
        return bytes(out)

    def _read_stream(self, n: int) -> bytes:
        conn, resp = self._stream
        out = bytearray()
        while len(out) < n:
            chunk = self._read_body(conn, resp, n - len(out))
            if not chunk:
                break
            out += chunk
        self._stream_pos += len(out)
        return bytes(out)

    def _skip_stream(self, k: int) -> None:
        while k > 0:
            got = self._read_stream(min(k, 1 << 20))
            if not got:
                return
            k -= len(got)

    def _drop_stream(self) -> None:
        if self._stream is not None:
            conn, _ = self._stream
            conn.close()
            self._stream = None


def open_source(path_or_url: str | os.PathLike | ByteSource, budget: ReadBudget | None = None) -> ByteSource:
    if isinstance(path_or_url, ByteSource):
        return path_or_url
    if is_url(path_or_url):
        return HttpSource(str(path_or_url), budget=budget)
    return FileSource(path_or_url)


def split_parts(path_or_url: str | os.PathLike) -> tuple[int, int] | None:
    """(part number, part count) for a llama.cpp split name `-00001-of-00003.gguf`, else None."""
    s = str(path_or_url)
    path = urlsplit(s).path if is_url(s) else s
    m = _SPLIT_RE.search(path)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def part_name(path_or_url: str | os.PathLike, part: int, count: int) -> str:
    """The name of split part `part` (1-based), in the same directory or URL folder."""
    s = str(path_or_url)
    if is_url(s):
        parts = urlsplit(s)
        new_path = _SPLIT_RE.sub(f"-{part:05d}-of-{count:05d}.gguf", parts.path)
        return parts._replace(path=new_path).geturl()
    return _SPLIT_RE.sub(f"-{part:05d}-of-{count:05d}.gguf", s)
