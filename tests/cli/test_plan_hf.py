"""`-hf user/repo[:quant]` and `hf.co/user/repo` resolve through a Hub API served on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gguf_models import write_tiny
from vtt.gguf.hf import HfRef, parse_hf_ref, pick_file

REPO = "someone/Tiny-Qwen3-GGUF"


class FakeHub:
    """The two Hub routes vtt uses: the file list, and file reads with Range. A gated repo
    answers 401 without the right Bearer token."""

    def __init__(self, files: dict[str, Path], token: str | None = None):
        self.files, self.token, self.auth_seen, self.sent = files, token, [], 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                auth = self.headers.get("Authorization")
                outer.auth_seen.append((self.path, auth))
                if outer.token and auth != f"Bearer {outer.token}":
                    self.send_error(401)
                    return
                path = self.path.split("?")[0]
                if path == f"/api/models/{REPO}/tree/main":
                    body = json.dumps([{"type": "file", "path": p, "size": 1} for p in outer.files]
                                      + [{"type": "directory", "path": "sub"}]).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                m = re.match(rf"^/{REPO}/resolve/main/(.+)$", path)
                if not m or m.group(1) not in outer.files:
                    self.send_error(404)
                    return
                data = outer.files[m.group(1)].read_bytes()
                r = re.match(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
                a, b = (int(r.group(1)), min(int(r.group(2)), len(data) - 1)) if r else (0, len(data) - 1)
                self.send_response(206 if r else 200)
                self.send_header("Content-Length", str(b - a + 1))
                if r:
                    self.send_header("Content-Range", f"bytes {a}-{b}/{len(data)}")
                self.end_headers()
                try:
                    self.wfile.write(data[a:b + 1])
                    outer.sent += b - a + 1
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def ggufs(tmp_path_factory):
    d = tmp_path_factory.mktemp("hub")
    q8 = write_tiny("qwen3", d, "q8_0")
    f16 = write_tiny("llama", d, "f16")
    return {"Tiny-Qwen3-Q8_0.gguf": q8, "Tiny-Llama-F16.gguf": f16, "mmproj-F16.gguf": f16}


def _plan(hub, *args, env_extra=None):
    import os

    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, **(env_extra or {})}
    env.pop("HF_TOKEN", None) if not (env_extra or {}).get("HF_TOKEN") else None
    return subprocess.run([sys.executable, "-m", "vtt.cli", "plan", *args, "-c", "4096", "--json"],
                          capture_output=True, text=True, timeout=60, env=env)


def test_hf_flag_picks_the_quant_and_reads_only_the_header(ggufs):
    hub = FakeHub(ggufs)
    try:
        r = _plan(hub, "-hf", f"{REPO}:q8_0")
        assert r.returncode == 0, r.stdout + r.stderr
        a = json.loads(r.stdout)
        assert a["model"] == "Tiny-Qwen3-Q8_0.gguf" and a["arch"] == "qwen3"
        assert a["weights_bytes"] > 0 and hub.sent < ggufs["Tiny-Qwen3-Q8_0.gguf"].stat().st_size
        assert any("Tiny-Qwen3-Q8_0.gguf" in w for w in a["warnings"])
        # the same repository by its hf.co and https names; no Q4_K_M: the first .gguf, never mmproj
        for name in (f"hf.co/{REPO}", f"https://huggingface.co/{REPO}"):
            b = json.loads(_plan(hub, name).stdout)
            assert b["model"] == "Tiny-Llama-F16.gguf", b
    finally:
        hub.close()


def test_hf_token_is_sent_for_a_gated_repository(ggufs):
    hub = FakeHub(ggufs, token="s3cret")
    try:
        r = _plan(hub, "-hf", f"{REPO}:Q8_0")
        assert r.returncode == 3 and "HF_TOKEN" in (r.stdout + r.stderr)
        before = len(hub.auth_seen)
        r = _plan(hub, "-hf", f"{REPO}:Q8_0", env_extra={"HF_TOKEN": "s3cret"})
        assert r.returncode == 0, r.stdout + r.stderr
        seen = hub.auth_seen[before:]
        assert len(seen) >= 2 and all(auth == "Bearer s3cret" for _, auth in seen)  # the list and the Range reads
    finally:
        hub.close()


def test_unknown_quant_names_what_the_repository_has(ggufs):
    hub = FakeHub(ggufs)
    try:
        r = _plan(hub, "-hf", f"{REPO}:Q5_K_M")
        assert r.returncode == 2
        msg = json.loads(r.stdout)["error"]["message"]
        assert "Q5_K_M" in msg and "Q8_0" in msg
    finally:
        hub.close()


def test_an_unreachable_hub_is_a_clear_environment_error():
    import os

    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9"}
    r = subprocess.run([sys.executable, "-m", "vtt.cli", "plan", "-hf", "a/b:Q8_0"], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert r.stderr.startswith("vtt: error: cannot reach the Hugging Face Hub at http://127.0.0.1:9")


def test_hf_names_parse_like_llama_cpp():
    assert parse_hf_ref("hf.co/unsloth/GLM-4.7-Flash-GGUF:Q8_0") == HfRef("unsloth/GLM-4.7-Flash-GGUF", "Q8_0")
    assert parse_hf_ref("hf://unsloth/GLM-4.7-Flash-GGUF") == HfRef("unsloth/GLM-4.7-Flash-GGUF", None)
    assert parse_hf_ref("https://huggingface.co/unsloth/GLM-4.7-Flash-GGUF/tree/main") == HfRef("unsloth/GLM-4.7-Flash-GGUF", None)
    assert parse_hf_ref("https://huggingface.co/u/r/resolve/main/x.gguf") is None  # one file: a URL
    assert parse_hf_ref("gpt-oss/20b") is None and parse_hf_ref("openai/gpt-oss-20b") is None


def test_pick_file_follows_llama_cpps_choice():
    files = ["README.md", "mmproj-BF16.gguf", "M-UD-Q4_K_M.gguf", "M-Q4_K_M.gguf", "M-Q8_0.gguf",
             "BF16/M-BF16-00002-of-00002.gguf", "BF16/M-BF16-00001-of-00002.gguf"]
    assert pick_file(files, None) == "M-Q4_K_M.gguf"
    assert pick_file(files, "bf16") == "BF16/M-BF16-00001-of-00002.gguf"
    assert pick_file(files, "UD-Q4_K_M") == "M-UD-Q4_K_M.gguf"
    assert pick_file(files, "Q2_K") is None
    assert pick_file(["a-Q8_0.gguf", "b-F16.gguf"], None) == "a-Q8_0.gguf"


def _split_copy(src: Path, out: Path, max_tensors: int) -> list[Path]:
    """`src` rewritten as a llama.cpp split model (gguf-py's split writer, as gguf-split does)."""
    import gguf

    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(out, r.fields["general.architecture"].contents(), split_max_tensors=max_tensors)
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        t = f.types[0]
        if t == gguf.GGUFValueType.ARRAY:
            w.add_array(f.name, f.contents())
        elif t == gguf.GGUFValueType.STRING:
            w.add_string(f.name, f.contents())
        else:
            w.add_key_value(f.name, f.contents(), t)
    for t in r.tensors:
        w.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return sorted(out.parent.glob(out.stem + "-*-of-*.gguf"))


def test_a_split_model_in_a_folder_resolves_to_its_first_part_and_reads_every_header(tmp_path):
    whole = write_tiny("qwen3", tmp_path, "f16")
    parts = _split_copy(whole, tmp_path / "Tiny-Qwen3-F16.gguf", 6)
    assert len(parts) >= 3
    files = {f"F16/{p.name}": p for p in reversed(parts)}
    hub = FakeHub(files)
    try:
        r = _plan(hub, "-hf", f"{REPO}:F16")
        assert r.returncode == 0, r.stdout + r.stderr
        a = json.loads(r.stdout)
        assert a["model"] == f"Tiny-Qwen3-F16-00001-of-{len(parts):05d}.gguf"
        from vtt.gguf.reader import read_gguf_header

        assert a["weights_bytes"] == read_gguf_header(whole).tensor_bytes  # every part's tensors counted
    finally:
        hub.close()
