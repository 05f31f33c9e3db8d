"""A small client for llama-server's HTTP API: JSON calls and a streamed chat completion.

httpx when it is installed (a vtt dependency: one pooled keep-alive connection, streaming lines,
separate connect/read timeouts), else the standard library's urllib (new connection per call, which
only adds loopback connect time before the request is sent, outside the timed part).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Iterator

try:
    import httpx
except ImportError:  # pragma: no cover - exercised only where httpx is absent
    httpx = None


class HttpFailure(Exception):
    """The server refused, timed out or answered an error status."""

    def __init__(self, message: str, kind: str = "http"):
        super().__init__(message)
        self.kind = kind  # http, timeout, refused


@dataclass
class StreamResult:
    ttft_s: float | None = None
    e2e_s: float = 0.0
    token_times: list[float] = field(default_factory=list)  # arrival of each content chunk (s after send)
    usage: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    text: str = ""
    finish_reason: str | None = None


class Client:
    def __init__(self, base_url: str, timeout_s: float = 600.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.library = "httpx" if httpx is not None else "urllib"
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=10.0)) if httpx else None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- plain calls ----------------------------------------------------------------------------
    def get(self, path: str, timeout_s: float | None = None) -> tuple[int, dict | None]:
        return self._call("GET", path, None, timeout_s)

    def post(self, path: str, body: dict, timeout_s: float | None = None) -> tuple[int, dict | None]:
        return self._call("POST", path, body, timeout_s)

    def _call(self, method: str, path: str, body: dict | None, timeout_s: float | None):
        url = self.base_url + path
        t = timeout_s or self.timeout_s
        if self._client is not None:
            try:
                r = self._client.request(method, url, json=body, timeout=t)
            except httpx.TimeoutException as e:
                raise HttpFailure(f"{method} {path}: timed out after {t:g} s", "timeout") from e
            except httpx.TransportError as e:
                raise HttpFailure(f"{method} {path}: {e}", "refused") from e
            try:
                return r.status_code, r.json()
            except ValueError:
                return r.status_code, None
        import urllib.error
        import urllib.request

        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=t) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except TimeoutError as e:
            raise HttpFailure(f"{method} {path}: timed out after {t:g} s", "timeout") from e
        except (urllib.error.URLError, OSError) as e:
            raise HttpFailure(f"{method} {path}: {e}", "refused") from e
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, None

    # --- streamed chat ---------------------------------------------------------------------------
    def _sse_lines(self, path: str, body: dict, timeout_s: float) -> Iterator[str]:
        url = self.base_url + path
        if self._client is not None:
            try:
                with self._client.stream("POST", url, json=body, timeout=timeout_s) as r:
                    if r.status_code != 200:
                        r.read()
                        raise HttpFailure(f"POST {path}: status {r.status_code}: {r.text[:300]}")
                    deadline = time.monotonic() + timeout_s
                    for line in r.iter_lines():
                        yield line
                        if time.monotonic() > deadline:  # httpx's timeouts are per read: a streaming
                            raise httpx.ReadTimeout("the whole request took too long")  # answer never trips them
            except httpx.TimeoutException as e:
                raise HttpFailure(f"POST {path}: timed out after {timeout_s:g} s", "timeout") from e
            except httpx.TransportError as e:
                raise HttpFailure(f"POST {path}: {e}", "refused") from e
            return
        import urllib.error
        import urllib.request

        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                deadline = time.monotonic() + timeout_s
                for raw in r:
                    yield raw.decode("utf-8", "replace").rstrip("\r\n")
                    if time.monotonic() > deadline:  # the socket timeout is per read, the deadline the whole
                        raise TimeoutError("the whole request took too long")
        except urllib.error.HTTPError as e:
            raise HttpFailure(f"POST {path}: status {e.code}: {e.read()[:300]!r}") from e
        except TimeoutError as e:
            raise HttpFailure(f"POST {path}: timed out after {timeout_s:g} s", "timeout") from e
        except (urllib.error.URLError, OSError) as e:
            raise HttpFailure(f"POST {path}: {e}", "refused") from e

    def chat_stream(self, messages: list[dict], max_tokens: int, timeout_s: float | None = None,
                    extra: dict | None = None) -> StreamResult:
        """POST /v1/chat/completions with stream=true; time each content chunk as it arrives.

        TTFT is send -> first chunk carrying generated text (content or reasoning_content)."""
        body = {"messages": messages, "max_tokens": max_tokens, "stream": True, "temperature": 0,
                "stream_options": {"include_usage": True}, "cache_prompt": True, **(extra or {})}
        out = StreamResult()
        parts: list[str] = []
        t0 = time.perf_counter()
        for line in self._sse_lines("/v1/chat/completions", body, timeout_s or self.timeout_s):
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            now = time.perf_counter() - t0
            if chunk.get("error"):
                raise HttpFailure(f"server error: {json.dumps(chunk['error'])[:300]}")
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                piece = (delta.get("content") or "") + (delta.get("reasoning_content") or "")
                if piece:
                    if out.ttft_s is None:
                        out.ttft_s = now
                    out.token_times.append(now)
                    parts.append(piece)
                if choice.get("finish_reason"):
                    out.finish_reason = choice["finish_reason"]
            if chunk.get("usage"):
                out.usage = chunk["usage"]
            if chunk.get("timings"):
                out.timings = chunk["timings"]
        out.e2e_s = time.perf_counter() - t0
        out.text = "".join(parts)
        return out
