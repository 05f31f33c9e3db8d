"""Every llama-server command line vtt exports starts for real: the llama-server built from the same sdist
as llama-bench, on a generated GGUF named like the plan's files (so the --models-dir scan finds it), up to a
200 on /health, then stopped with nothing left behind."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from serve_models import write_chat_gguf  # noqa: E402 (one chat-model writer for every server test)

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL after 30 s; close its stderr pipe."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    proc.stderr.close()


def _healthy(port: int, proc: subprocess.Popen, deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from vtt.harness.locate import find_tool
    from vtt.optimize import optimize
    from vtt.optimize.export import Target, export

    server = find_tool("llama-server")
    seed = ["glm-4.7-flash", "gpt-oss-20b", "glm-4.7-reap-218b", "qwen3-235b-a22b"]
    plan = optimize(models=seed).to_json()
    plan64 = optimize(models=seed, budget_gib=64).to_json()
    models = tmp_path_factory.mktemp("models")
    tiny = write_chat_gguf(models / "tiny.gguf")
    out = {}
    for name, p in (("128", plan), ("64", plan64)):
        for s in p["resident_sets"]:
            for m in s["models"]:
                f = models / f"{m['model']}-{m['quant']}.gguf"
                if not f.exists():
                    os.link(tiny, f)
        ex = export(p, "llama-swap", Target(llama_server=str(server), models_dir=models))
        out[name] = (p, yaml.safe_load(ex.text))
    return out


def _commands(exported):
    for name, (_, cfg) in exported.items():
        for sid, m in cfg["models"].items():
            yield name, sid, m["cmd"]


def test_every_exported_llama_server_command_starts_and_answers_health(exported):
    started = 0
    for name, sid, cmd in _commands(exported):
        port = _free_port()
        argv = shlex.split(cmd.replace("${PORT}", str(port)))
        assert Path(argv[argv.index("-m") + 1]).is_file()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            ok = _healthy(port, proc, 120)
            err = b"" if ok else (proc.stderr.read() if proc.poll() is not None else b"")
            assert ok, f"budget {name}: {sid} did not start: {cmd}\n{err.decode(errors='replace')[-1500:]}"
            started += 1
        finally:
            stop_group(proc)
        assert proc.poll() is not None
        with pytest.raises(ProcessLookupError):      # nothing of its process group outlives it
            os.killpg(proc.pid, 0)
    assert started >= 2


def test_every_export_names_its_targets_and_keeps_the_resident_sets(exported):
    for _, (plan, cfg) in exported.items():
        assert "routing" not in cfg
        assert {g: set(v["members"]) for g, v in cfg["groups"].items()} == {
            s["id"]: {m["server"] for m in s["models"]} for s in plan["resident_sets"]}
        for m in cfg["models"].values():
            assert m["metadata"]["vtt_llama_cpp_build"] == "0c1e570"
