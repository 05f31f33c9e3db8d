"""kill -9 and SIGTERM of a real `vtt bench run`: no llama-bench outlives it, no committed cell is lost,
the run is marked interrupted, `--resume` finishes it exactly, and two resumers cannot share a run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vtt import store

pytestmark = pytest.mark.e2e
VTT = str(Path(sys.executable).parent / "vtt")
REPS = 3


def _bench_pids(marker: str) -> list[int]:
    """llama-bench processes whose command line names our model (unique per test)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"llama-bench") and marker.encode() in b" ".join(cmd) and state != b"Z":
            out.append(int(name))
    return out


def _matrix(tmp_path: Path, tiny_gguf: Path) -> tuple[Path, Path, int]:
    model = tmp_path / "kill-model.gguf"  # a unique path: how the test finds its llama-bench
    os.link(tiny_gguf, model) if not model.exists() else None
    m = tmp_path / "m.yaml"
    m.write_text(f"models: [{model}]\nn_prompt: [32, 64, 1024]\nn_gen: 8\nthreads: [1, 2]\nrepetitions: {REPS}\n")
    return m, model, (3 + 1) * 2  # (3 pp + 1 tg) x 2 thread counts, one cell each


def _start(matrix: Path, db: Path, label: str, llama_bench: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([VTT, "bench", "run", "--matrix", str(matrix), "--label", label, "--db", str(db),
                             "--json", "--llama-bench", llama_bench, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_cells(model: Path, k: int, timeout: float = 120) -> None:
    """Until the k-th distinct llama-bench process has started (k-1 cells are finished)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.update(_bench_pids(str(model)))
        if len(seen) >= k:
            return
        time.sleep(0.02)
    raise AssertionError(f"only {len(seen)} llama-bench processes started")


def _no_orphans(model: Path, within: float = 0.5) -> None:
    """The parent-death signal stops llama-bench at once; an orphan would live on until its
    cell ends (then die of SIGPIPE), so the window is short."""
    deadline = time.monotonic() + within
    while _bench_pids(str(model)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _bench_pids(str(model))
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"llama-bench outlived vtt: {left}"


def _check_store(db: Path, label: str) -> tuple[str, int]:
    with store.open_store(db) as s:  # a write open: marks a dead owner's run interrupted
        run = store.find_runs(s, label=label)[-1]
        rows = store.results(s, label=label)
    ok = [r for r in rows if r["status"] == "ok"]
    assert all(len(r["samples_ns"]) == REPS for r in ok), "a stored result lost samples"
    keys = [r["cell_key"] for r in ok]
    assert len(keys) == len(set(keys)), "a cell was measured twice"
    return run["status"], len(ok)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_bench_run_leaves_no_llama_bench_and_loses_nothing(llama_bench, tiny_gguf, tmp_path, sig):
    matrix, model, n_cells = _matrix(tmp_path, tiny_gguf)
    db = tmp_path / "r.duckdb"
    p = _start(matrix, db, "k", llama_bench)
    _wait_for_cells(model, 3)  # the pp1024 cell: long enough to be mid-measurement
    assert _bench_pids(str(model)), "no llama-bench running at the kill"
    p.send_signal(sig)
    p.communicate(timeout=30)
    if sig == signal.SIGTERM:
        assert p.returncode != 0
    _no_orphans(model)
    status, n_ok = _check_store(db, "k")
    assert status == "interrupted" and 1 <= n_ok < n_cells
    again = subprocess.run([VTT, "bench", "run", "--matrix", str(matrix), "--label", "k", "--db", str(db), "--json",
                            "--resume", "--llama-bench", llama_bench], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["cells_skipped"] == n_ok
    status, n_all = _check_store(db, "k")
    assert status == "ok" and n_all == n_cells


def test_two_resumers_cannot_share_a_run(llama_bench, tiny_gguf, tmp_path):
    matrix, model, n_cells = _matrix(tmp_path, tiny_gguf)
    db = tmp_path / "r.duckdb"
    first = _start(matrix, db, "r", llama_bench)
    _wait_for_cells(model, 2)
    first.send_signal(signal.SIGKILL)  # leave a run to resume
    first.communicate(timeout=30)
    _no_orphans(model)
    a = _start(matrix, db, "r", llama_bench, "--resume")
    _wait_for_cells(model, 1)
    b = subprocess.run([VTT, "bench", "run", "--matrix", str(matrix), "--label", "r", "--db", str(db), "--json",
                        "--resume", "--llama-bench", llama_bench], capture_output=True, text=True, timeout=120)
    out, err = a.communicate(timeout=300)
    assert a.returncode == 0, err
    assert b.returncode == 3 and "being measured now" in (b.stdout + b.stderr)
    status, n_all = _check_store(db, "r")
    assert status == "ok" and n_all == n_cells
