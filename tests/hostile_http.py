"""A hostile HTTP server on 127.0.0.1 for remote-read tests: each connection gets a scripted reply.

`HostileServer(behaviour, files)` serves `files` (name -> bytes) the way `behaviour` says:
  honest    206 replies with the asked range
  drip      honest headers, then the body one byte every `drip_s`
  drip_head the status line, then header bytes one every `drip_s` (never finishes)
  range_lie 206 replies whose bytes start 64 bytes later than asked (Content-Range says so)
  no_range  200 with the whole file, endless if `endless`
  huge_head 206 with 5,000 header lines before the body
Counts bytes of body sent (`sent`) so tests can check what a read cost.
"""

from __future__ import annotations

import re
import socket
import threading
import time


class HostileServer:
    def __init__(self, behaviour: str, files: dict[str, bytes], *, drip_s: float = 0.3, endless: bool = False):
        self.behaviour, self.files, self.drip_s, self.endless = behaviour, files, drip_s, endless
        self.sent = 0
        self.requests: list[str] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.sock.close()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _send(self, conn, data: bytes, body: bool = False) -> bool:
        # counted before sendall: the client may have the last byte (and the test read `sent`)
        # before this thread runs again
        if body:
            self.sent += len(data)
        try:
            conn.sendall(data)
        except OSError:
            if body:
                self.sent -= len(data)
            return False
        return True

    def _handle(self, conn: socket.socket):
        try:
            conn.settimeout(30)
            req = b""
            while b"\r\n\r\n" not in req:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                req += chunk
            text = req.decode("latin-1")
            path = text.split(" ", 2)[1]
            self.requests.append(path)
            name = path.lstrip("/").split("?")[0]
            data = self.files.get(name)
            if data is None:
                self._send(conn, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            m = re.search(r"Range: bytes=(\d+)-(\d*)", text, re.I)
            start = int(m.group(1)) if m else 0
            end = min(int(m.group(2)) if m and m.group(2) else len(data) - 1, len(data) - 1)
            b = self.behaviour
            if b == "range_lie":
                start = min(start + 64, end)
            body = data[start:end + 1]
            head = f"Content-Length: {len(body)}\r\nContent-Range: bytes {start}-{end}/{len(data)}\r\n"
            if b == "no_range":
                if not self._send(conn, b"HTTP/1.1 200 OK\r\n\r\n" if self.endless else
                                  f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\n\r\n".encode()):
                    return
                while not self.stop.is_set():
                    if not self._send(conn, data, body=True) or not self.endless:
                        return
                return
            if b == "drip_head":
                self._send(conn, b"HTTP/1.1 206 Partial Content\r\n")
                while not self.stop.is_set() and self._send(conn, b"X"):
                    time.sleep(self.drip_s)
                return
            if b == "huge_head":
                head += "".join(f"X-Junk-{i}: {'y' * 50}\r\n" for i in range(5000))
            if not self._send(conn, f"HTTP/1.1 206 Partial Content\r\n{head}\r\n".encode()):
                return
            if b == "drip":
                for i in range(len(body)):
                    if self.stop.is_set() or not self._send(conn, body[i:i + 1], body=True):
                        return
                    time.sleep(self.drip_s)
                return
            self._send(conn, body, body=True)
        except OSError:
            pass
        finally:
            conn.close()
