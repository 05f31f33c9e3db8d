"""Hugging Face repository names -> the URL of the GGUF file they mean.

The names llama.cpp accepts: `-hf user/repo[:quant]` (llama-server / llama-cli), also written
`hf.co/user/repo[:quant]` or `https://huggingface.co/user/repo`. As in llama.cpp
(common/arg.cpp, common_get_hf_file): the tag after ':' picks the file whose name carries that
quant (case-insensitive); without one, Q4_K_M if the repository has it, else the first .gguf.
Projector files (mmproj) are never picked; a split model is named by its first part, and the
header reader fetches the other parts' headers itself.

The file list comes from the Hub API: GET {HF_ENDPOINT or https://huggingface.co}/api/models/
{repo}/tree/main?recursive=true (https://huggingface.co/docs/hub/api). HF_TOKEN, when set, is
sent as a Bearer token to the Hub's host only (gated repositories), never to the CDN it
redirects file reads to. Stdlib only; imported only for such names.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from vtt.errors import RemoteError, UnknownName

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_QUANT = "Q4_K_M"  # llama.cpp's default tag ("latest" -> Q4_K_M, else the first file)
TIMEOUT_S = 10.0
MAX_LISTING_BYTES = 16 << 20
MAX_REDIRECTS = 5

_HOSTS = ("hf.co", "huggingface.co", "www.huggingface.co")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.I)


@dataclass(frozen=True)
class HfRef:
    repo: str  # user/repo
    quant: str | None  # the tag after ':' (None: llama.cpp's default choice)


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def parse_hf_ref(name: str) -> HfRef | None:
    """`hf.co/user/repo[:quant]`, `huggingface.co/user/repo`, `https://huggingface.co/user/repo[/tree/main]`
    (or the HF_ENDPOINT host), or `hf://user/repo[:quant]` (what `-hf` becomes); else None. A URL
    of one file (`.../resolve/main/x.gguf`) is not a repository: it is read as a URL."""
    s = name.strip()
    if s.lower().startswith("hf://"):
        rest = s[5:]
    else:
        bare = re.sub(r"^https?://", "", s, flags=re.I)
        host, _, rest = bare.partition("/")
        ep_host = urlsplit(endpoint()).netloc.lower()
        if host.lower() not in (*_HOSTS, ep_host) or not rest:
            return None
        rest = re.sub(r"/tree/main/?$", "", rest.rstrip("/"))
    repo, _, quant = rest.partition(":")
    if not _REPO.match(repo):
        return None
    return HfRef(repo, quant or None)


def pick_file(paths: list[str], quant: str | None) -> str | None:
    """The file llama.cpp's -hf would load from a repository's file list (first split part)."""
    ggufs = sorted(p for p in paths if p.lower().endswith(".gguf") and "mmproj" not in p.lower().rsplit("/", 1)[-1])
    firsts = [p for p in ggufs if not _SPLIT.search(p) or int(_SPLIT.search(p).group(1)) == 1]
    if not firsts:
        return None
    want = quant or DEFAULT_QUANT
    pat = re.compile(r"(^|[-_./])" + re.escape(want) + r"([-_.]|$)", re.I)
    hits = [p for p in firsts if pat.search(p)]
    # a plain Q4_K_M before UD-Q4_K_M (both carry the tag)
    hits.sort(key=lambda p: bool(re.search(r"(^|[-_./])ud-" + re.escape(want), p, re.I)))
    if hits:
        return hits[0]
    return None if quant else firsts[0]


def resolve_hf(ref: HfRef) -> tuple[str, str]:
    """(URL of the GGUF file, repository path of it). Registers HF_TOKEN for the Hub's host."""
    from vtt.gguf.source import add_host_headers

    ep = endpoint()
    token = os.environ.get("HF_TOKEN")
    if token:
        add_host_headers(urlsplit(ep).netloc, {"Authorization": f"Bearer {token}"})
    listing = _get_json(f"{ep}/api/models/{quote(ref.repo)}/tree/main?recursive=true", ref, token)
    if not isinstance(listing, list):
        raise RemoteError(f"unexpected reply from the Hub listing {ref.repo}: not a list of files")
    paths = [str(f.get("path")) for f in listing if isinstance(f, dict) and f.get("type") == "file" and f.get("path")]
    path = pick_file(paths, ref.quant)
    if path is None:
        have = sorted({m.group(0).upper() for p in paths if p.lower().endswith(".gguf")
                       for m in [re.search(r"(UD-)?(I?Q\d\w*|BF16|F16|F32|MXFP4\w*)", p.rsplit("/", 1)[-1], re.I)] if m})
        what = f"no .gguf file with quant {ref.quant}" if ref.quant else "no .gguf file"
        raise UnknownName(f"Hugging Face repository {ref.repo} has {what}"
                          + (f" (it has {', '.join(have[:12])})" if have else ""),
                          hint=f"try: -hf {ref.repo}:{have[0]}" if have else None)
    return f"{ep}/{quote(ref.repo)}/resolve/main/{quote(path)}", path


def _get_json(url: str, ref: HfRef, token: str | None):
    import http.client
    import ssl

    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        kw = {"context": ssl.create_default_context()} if parts.scheme == "https" else {}
        headers = {"User-Agent": "vtt-hf/0.1", "Accept": "application/json"}
        if token and parts.netloc.lower() == urlsplit(endpoint()).netloc.lower():
            headers["Authorization"] = f"Bearer {token}"
        conn = cls(parts.hostname or "", parts.port, timeout=TIMEOUT_S, **kw)
        try:
            conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                url = urljoin(url, resp.getheader("Location"))
                continue
            body = resp.read(MAX_LISTING_BYTES + 1)
        except (socket.gaierror, ConnectionRefusedError) as e:
            raise RemoteError(f"cannot reach the Hugging Face Hub at {endpoint()} ({type(e).__name__}) to list {ref.repo}",
                              hint="offline? download the .gguf and pass its path, or set HF_ENDPOINT to a mirror") from None
        except (TimeoutError, socket.timeout):
            raise RemoteError(f"timed out after {TIMEOUT_S:g} s listing {ref.repo} at {endpoint()}",
                              hint="offline? download the .gguf and pass its path") from None
        except (OSError, http.client.HTTPException) as e:
            raise RemoteError(f"connection failed ({type(e).__name__}) listing {ref.repo} at {endpoint()}",
                              hint="offline? download the .gguf and pass its path") from None
        finally:
            conn.close()
        if resp.status in (401, 403):
            raise RemoteError(f"access denied (HTTP {resp.status}) to Hugging Face repository {ref.repo}",
                              hint="a gated or private repository: set HF_TOKEN" if not token else "HF_TOKEN lacks access to it")
        if resp.status == 404:
            raise UnknownName(f"no Hugging Face repository {ref.repo} (HTTP 404 from {endpoint()})")
        if resp.status != 200:
            raise RemoteError(f"HTTP {resp.status} from the Hugging Face Hub listing {ref.repo}")
        if len(body) > MAX_LISTING_BYTES:
            raise RemoteError(f"the Hub's file list of {ref.repo} exceeds {MAX_LISTING_BYTES >> 20} MiB")
        try:
            return json.loads(body)
        except ValueError:
            raise RemoteError(f"the Hub's reply listing {ref.repo} is not JSON") from None
    raise RemoteError(f"more than {MAX_REDIRECTS} redirects listing {ref.repo}")
