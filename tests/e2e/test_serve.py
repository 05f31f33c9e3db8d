"""`vtt bench serve` end to end: the real CPU llama-server on a generated chat model, real HTTP on
127.0.0.1, a real DuckDB file. Every test also checks that no process holds the model afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vtt import store
from vtt.harness.proc import pid_alive
from vtt.store import serve_records

sys.path.insert(0, str(Path(__file__).parent))
from serve_models import write_chat_gguf  # noqa: E402

VTT = str(Path(sys.executable).parent / "vtt")
CONTRACT = ("workload", "request", "cached_tokens", "prompt_tokens", "output_tokens", "ttft_s", "decode_tps",
            "e2e_s", "rss_mib")


@pytest.fixture(scope="module")
def llama_server() -> str:
    from vtt.harness.serve import find_llama_server

    try:
        return str(find_llama_server())
    except Exception as e:  # the CPU build is made by `vtt bench install`; CI runs it first
        pytest.fail(f"llama-server not built: {e}")


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory) -> Path:
    return write_chat_gguf(tmp_path_factory.mktemp("serve") / "chat-tiny.gguf")


def holders(model: Path) -> list[int]:
    """Live processes whose command line names the model file."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if str(model).encode() in Path(f"/proc/{pid}/cmdline").read_bytes() and pid_alive(int(pid)):
                out.append(int(pid))
        except OSError:
            pass
    return out


def no_holders_within(model: Path, seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = holders(model)
        if not left:
            return []
        time.sleep(0.05)
    return holders(model)


def rows_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def serve(*args, timeout=60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([VTT, "bench", "serve", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)


def long_workload(tmp_path: Path) -> Path:
    # so many requests that a signal lands mid-run: 200 (about 1 s with the tiny model) were all done
    # before a loaded machine's test process read the first line, and vtt exited 0
    p = tmp_path / "long.yaml"
    p.write_text(textwrap.dedent("""\
        id: long
        name: many short requests
        requests:
          - {id: r, prefix: sys, prefix_tokens: 64, new_tokens: 16, output_tokens: 32, repeat: 20000}
    """))
    return p


def test_smoke_json_rows_stored_listed_and_no_orphan(chat_model, llama_server, tmp_path):
    db = tmp_path / "s.duckdb"
    p = serve("-m", chat_model, "--workload", "smoke", "--label", "s1", "--db", db, "--json")
    assert p.returncode == 0, p.stderr
    rows = rows_of(p.stdout)
    assert [r["request"] for r in rows] == ["cold#0", "warm#0", "warm#1"]
    for r in rows:
        assert all(k in r for k in CONTRACT)
        assert r["ttft_s"] > 0 and r["decode_tps"] > 0 and r["e2e_s"] >= r["ttft_s"]
        assert r["output_tokens"] == 16  # ignore_eos: exactly the asked number
        assert r["rss_mib"] > 1
    # the system prefix is served from the prompt cache after the first request
    assert rows[0]["cached_tokens"] == 0
    assert rows[1]["cached_tokens"] >= 96 and rows[2]["cached_tokens"] >= 96
    assert rows[1]["prompt_tokens"] == rows[0]["prompt_tokens"]
    assert not no_holders_within(chat_model)
    with store.open_store(db, read_only=True) as s:
        run = store.find_runs(s, label="s1")[-1]
        assert run["source"] == "serve" and run["status"] == "ok"
        argv = run["params"]["server_argv"]
        assert argv[0].endswith("llama-server") and "127.0.0.1" in argv and str(chat_model) in argv
        fp = store.get_machine(s, run["machine_id"])
        assert fp["cpu_count"] and fp["llama_server_version"]["build_commit"] == "0c1e570"
        stored = serve_records.requests(s, run_id=run["run_id"])
        assert [q["request_key"] for q in stored] == ["cold#0", "warm#0", "warm#1"]
        assert stored[1]["timings"]["cache_n"] == rows[1]["cached_tokens"]
        assert all(q["rss_bytes"] > 0 for q in stored)
        assert serve_records.samples(s, run["run_id"])  # RSS over time
        mem = serve_records.memory(s, run["run_id"])
        assert mem and mem[0]["source"] == "server-log" and mem[0]["kv_bytes"] > 0 and mem[0]["weights_bytes"] > 0
    listed = subprocess.run([VTT, "runs", "--db", str(db), "--json"], capture_output=True, text=True)
    entry = [r for r in json.loads(listed.stdout) if r["label"] == "s1"][0]
    assert entry["results"] == {"ok": 3}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_signal_to_vtt_mid_run_leaves_no_server(chat_model, llama_server, tmp_path, sig):
    db = tmp_path / "s.duckdb"
    proc = subprocess.Popen([VTT, "bench", "serve", "-m", str(chat_model), "--workload", str(long_workload(tmp_path)),
                             "--label", "sig", "--db", str(db), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # the server is up and one request is done
        assert first.startswith("{"), proc.stderr.read()[-500:]
        assert holders(chat_model)
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
        left = no_holders_within(chat_model)
        assert not left, f"{len(left)} processes hold the model after {sig.name} to vtt"
        if sig != signal.SIGKILL:
            assert code == 130
            with store.open_store(db, read_only=True) as s:
                assert store.find_runs(s, label="sig")[-1]["status"] == "interrupted"
    finally:
        proc.kill()
        proc.wait()


def test_resume_skips_finished_requests(chat_model, llama_server, tmp_path):
    db = tmp_path / "s.duckdb"
    proc = subprocess.Popen([VTT, "bench", "serve", "-m", str(chat_model), "--workload", "modes-small",
                             "--label", "r", "--db", str(db), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert json.loads(first)["request"] == "ask#0"
    again = serve("-m", chat_model, "--workload", "modes-small", "--label", "r", "--db", db, "--json", "--resume")
    assert again.returncode == 0, again.stderr
    resumed = [r["request"] for r in rows_of(again.stdout)]
    assert "ask#0" not in resumed and resumed[-1] == "debug#1"
    with store.open_store(db, read_only=True) as s:
        run = store.find_runs(s, label="r")[-1]
        keys = [q["request_key"] for q in serve_records.requests(s, run_id=run["run_id"])]
        assert sorted(keys) == sorted(set(keys)) and len(keys) == 8 and run["status"] == "ok"
    same = serve("-m", chat_model, "--workload", "smoke", "--label", "r", "--db", db)
    assert same.returncode == 2 and "already exists" in same.stderr
    assert not no_holders_within(chat_model)


def test_model_that_does_not_load_fails_clearly(llama_server, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + os.urandom(256))
    db = tmp_path / "s.duckdb"
    p = serve("-m", bad, "--workload", "smoke", "--label", "bad", "--db", db, "--json")
    assert p.returncode == 3
    assert "load_failed" in p.stderr and p.stdout == ""
    with store.open_store(db, read_only=True) as s:
        assert store.find_runs(s, label="bad")[-1]["status"] == "failed"
    assert not no_holders_within(bad)


def test_server_that_never_gets_ready_is_killed_at_the_start_timeout(chat_model, tmp_path):
    fake = tmp_path / "llama-server"
    fake.write_text(f"#!{sys.executable}\nimport sys, time\n"
                    "if '--version' in sys.argv: print('version: 0.5.0-dev (build 1, commit fake000)'); sys.exit(0)\n"
                    "time.sleep(1000)\n")
    fake.chmod(0o755)
    t0 = time.monotonic()
    p = serve("-m", chat_model, "--workload", "smoke", "--label", "hang", "--db", tmp_path / "s.duckdb",
              "--llama-server", fake, "--start-timeout", "2")
    assert p.returncode == 3 and "not ready after 2 s" in p.stderr and "(timeout)" in p.stderr
    assert time.monotonic() - t0 < 30
    assert not no_holders_within(chat_model)


def test_request_timeout_fails_the_request_not_the_run_bookkeeping(chat_model, llama_server, tmp_path):
    wl = tmp_path / "big.yaml"
    wl.write_text("id: big\nname: one long answer\nrequests:\n  - {id: long, new_tokens: 16, output_tokens: 4000}\n")
    db = tmp_path / "s.duckdb"
    p = serve("-m", chat_model, "--workload", wl, "--label", "to", "--db", db, "--json", "--request-timeout", "0.2")
    assert p.returncode == 3
    row = rows_of(p.stdout)[0]
    assert row["status"] == "failed" and "timed out" in row["error"]
    with store.open_store(db, read_only=True) as s:
        run = store.find_runs(s, label="to")[-1]
        assert run["status"] == "failed"
        assert serve_records.requests(s, run_id=run["run_id"], status="failed")[0]["request_key"] == "long#0"
    assert not no_holders_within(chat_model)
