"""Fault injection with a fake llama-bench: crash, garbage, hang, Ctrl-C. Nothing finished is lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vtt import store

VTT = str(Path(sys.executable).parent / "vtt")

FAKE = textwrap.dedent('''\
    #!{python}
    # Fake llama-bench: behaviour chosen by the model file name.
    import json, os, sys, time
    a = sys.argv[1:]
    if a == ["--version"]:
        print("version: 0.5.0-dev (build 1, commit fake000)"); sys.exit(0)
    if a == ["--list-devices"]:
        print("Available devices:"); sys.exit(0)
    arg = lambda f: a[a.index(f) + 1]
    model, p, n, r = arg("-m"), int(arg("-p")), int(arg("-n")), int(arg("-r"))
    name = os.path.basename(model)
    print("loading " + name, file=sys.stderr, flush=True)
    if name.startswith("crash"):
        print("GGML_ASSERT failed: boom", file=sys.stderr, flush=True); os.abort()
    if name.startswith("garbage"):
        print("this is not json"); sys.exit(0)
    if name.startswith("hang"):
        time.sleep(120)
    if name.startswith("slow"):
        time.sleep(1.5)
    ns = [1_000_000 + i for i in range(r)]
    print(json.dumps({{"build_commit": "fake000", "build_number": 1, "model_filename": model,
                      "n_prompt": p, "n_gen": n, "n_depth": int(arg("-d")), "n_threads": 2,
                      "avg_ns": sum(ns) / r, "avg_ts": 1e9 * (p + n) / ns[0], "samples_ns": ns}}), flush=True)
''')


@pytest.fixture
def fake_bench(tmp_path) -> str:
    path = tmp_path / "llama-bench"
    path.write_text(FAKE.format(python=sys.executable))
    path.chmod(0o755)
    return str(path)


def models(tmp_path, *names) -> list[str]:
    out = []
    for name in names:
        (tmp_path / name).write_bytes(b"GGUF")
        out.append(str(tmp_path / name))
    return out


def run_vtt(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([VTT, *args], capture_output=True, text=True, timeout=120, **kw)


def test_crash_garbage_and_hang_are_recorded_as_failed_and_the_run_goes_on(fake_bench, tmp_path):
    paths = models(tmp_path, "ok1.gguf", "crash.gguf", "garbage.gguf", "hang.gguf", "ok2.gguf")
    db = str(tmp_path / "r.duckdb")
    args = ["bench", "run", "-p", "64", "-n", "0", "-r", "3", "--label", "faults", "--db", db,
            "--cell-timeout", "2", "--llama-bench", fake_bench, "--json"]
    for p in paths:
        args += ["-m", p]
    done = run_vtt(*args)
    assert done.returncode == 3, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["cells_ok"], summary["cells_failed"], summary["status"]) == (2, 3, "failed")
    with store.open_store(db, read_only=True) as s:
        failed = {Path(r["model_filename"]).name: r for r in store.results(s, status="failed")}
        ok = store.results(s, status="ok")
    assert sorted(Path(r["model_filename"]).name for r in ok) == ["ok1.gguf", "ok2.gguf"]
    assert all(len(r["samples_ns"]) == 3 for r in ok)
    assert failed["crash.gguf"]["error"] == "llama-bench killed by signal SIGABRT"
    assert "GGML_ASSERT failed: boom" in failed["crash.gguf"]["stderr_tail"]
    assert failed["garbage.gguf"]["error"] == "garbage output from llama-bench: 'this is not json'"
    assert failed["hang.gguf"]["error"] == "timed out after 2 s"


def test_ctrl_c_keeps_finished_cells_and_resume_finishes_the_rest(fake_bench, tmp_path):
    paths = models(tmp_path, "ok1.gguf", "slow1.gguf", "slow2.gguf", "slow3.gguf")
    db = str(tmp_path / "r.duckdb")
    args = ["bench", "run", "-p", "64", "-n", "16", "-r", "2", "--label", "intr", "--db", db,
            "--llama-bench", fake_bench]
    for p in paths:
        args += ["-m", p]
    proc = subprocess.Popen([VTT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until some cells are stored
        time.sleep(0.3)
        try:
            with store.open_store(db, read_only=True, timeout_s=0.2) as s:
                if len(store.results(s, label="intr", with_samples=False)) >= 3:
                    break
        except Exception:
            continue
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "continue with --resume" in err
    with store.open_store(db, read_only=True) as s:
        kept = len(store.results(s, label="intr"))
        assert store.find_runs(s, label="intr")[0]["status"] == "interrupted"
        assert store.results(s, label="intr", status="failed") == []  # the cut cell is not a failure
    assert 3 <= kept < 8
    resumed = run_vtt(*args, "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["cells_skipped"] == kept and summary["cells_ok"] == 8 - kept
    with store.open_store(db, read_only=True) as s:
        assert len(store.results(s, label="intr")) == 8
        assert store.find_runs(s, label="intr")[0]["status"] == "ok"


def test_missing_llama_bench_exits_3_with_a_clear_line(tmp_path):
    (m,) = models(tmp_path, "ok.gguf")
    done = run_vtt("bench", "run", "-m", m, "--db", str(tmp_path / "r.duckdb"),
                   "--llama-bench", str(tmp_path / "nope"))
    assert done.returncode == 3
    assert done.stderr.splitlines()[0] == f"vtt: error: llama-bench not found at {tmp_path / 'nope'}"
