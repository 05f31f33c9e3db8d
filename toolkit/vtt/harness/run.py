"""Run a matrix: one llama-bench process per cell, each jsonl row stored as it arrives.

A crash, garbage output or a timeout fails that cell (stderr tail kept) and the run goes on.
Ctrl-C or SIGTERM stops the current cell, keeps everything already stored and marks the run
interrupted; `resume=True` with the same label skips cells that already have an ok row, after
taking the run's lease (a second resumer of a live run is refused).

llama-bench runs through `harness.proc.ChildProcess`: its own process group, a parent-death
signal (so kill -9 of vtt takes it down too) and a group kill on every way out. Each record is
stored with its samples in one transaction.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from vtt.harness.fingerprint import collect_fingerprint, vram_used_paths
from vtt.harness.matrix import BenchMatrix, Cell
from vtt.harness.proc import ChildProcess

STDERR_TAIL_LINES = 30
GPU_SAMPLE_PERIOD_S = 0.1
EXIT_GRACE_S = 10.0


@dataclass
class CellOutcome:
    cell: Cell
    status: str = "ok"  # ok, failed, interrupted
    error: str | None = None
    stderr_tail: str = ""
    wall_s: float = 0.0
    records: list[dict] = field(default_factory=list)
    peaks_bytes: dict[str, int] = field(default_factory=dict)


@dataclass
class RunSummary:
    run_id: int
    label: str
    status: str  # ok, failed, interrupted
    cells_total: int
    cells_skipped: int
    cells_ok: int
    cells_failed: int
    failures: list[dict]
    db: str

    def to_dict(self) -> dict:
        return self.__dict__.copy()


class _Interrupt:
    """Ctrl-C and SIGTERM set a flag (so a store write is never cut in half) and kill the running cell."""

    def __init__(self):
        self.requested = False
        self.proc: subprocess.Popen | None = None
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        if self.proc is not None:
            _kill_group(self.proc)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _read_sysfs_bytes(paths: list[str]) -> int | None:
    total = None
    for p in paths:
        try:
            total = (total or 0) + int(Path(p).read_text().strip())
        except (OSError, ValueError):
            continue
    return total


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _GpuMemorySampler(threading.Thread):
    """Peak of the amdgpu sysfs counters while a cell runs. Only started where they exist:
    on a CPU-only box any periodic wake-up would steal time from llama.cpp's spinning threads."""

    def __init__(self, paths: dict[str, list[str]]):
        super().__init__(daemon=True)
        self.paths = {k: v for k, v in paths.items() if v}
        self.peaks: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for kind, paths in self.paths.items():
                value = _read_sysfs_bytes(paths)
                if value is not None:
                    self.peaks[kind] = max(self.peaks.get(kind, 0), value)
            self.stop.wait(GPU_SAMPLE_PERIOD_S)


def _reap(proc: subprocess.Popen, grace_s: float):
    """Wait for the child with wait4 (for its own peak RSS); kill it if it lingers after closing stdout."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return status, rusage
        time.sleep(0.01)
    _kill_group(proc)
    _, status, rusage = os.wait4(proc.pid, 0)
    return status, rusage


def _drain(stream, tail: deque) -> None:
    for line in stream:
        tail.append(line.rstrip("\n"))


def run_cell(cell: Cell, llama_bench: str, *, timeout_s: float | None = None,
             env: dict | None = None, on_record: Callable[[dict], None] | None = None,
             interrupt: _Interrupt | None = None) -> CellOutcome:
    """Run one cell; every parsed jsonl record goes to `on_record` at once.

    vtt blocks on llama-bench's output while it runs (no polling), so it does not perturb the timing.
    """
    out = CellOutcome(cell)
    t0 = time.monotonic()
    # SIGTERM is handled by `interrupt` (a flag, then a clean stop) when there is one; ChildProcess
    # turns it into an exception otherwise. Either way the group is killed before we return.
    child = ChildProcess([llama_bench, *cell.llama_bench_args()], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, errors="replace",
                         env=(os.environ | env) if env else None, grace_s=2.0,
                         handle_sigterm=interrupt is None)
    try:
        proc = child.start()
    except OSError as e:
        out.status, out.error = "failed", f"cannot start llama-bench: {e.strerror}"
        return out
    try:
        return _watch_cell(out, proc, t0, timeout_s, on_record, interrupt)
    finally:
        child.stop()  # the whole group, on every way out (exception, Ctrl-C, SIGTERM)
        if interrupt is not None:
            interrupt.proc = None


def _watch_cell(out: CellOutcome, proc: subprocess.Popen, t0: float, timeout_s: float | None,
                on_record: Callable[[dict], None] | None, interrupt: _Interrupt | None) -> CellOutcome:
    if interrupt is not None:
        interrupt.proc = proc
        if interrupt.requested:
            _kill_group(proc)
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    drainer = threading.Thread(target=_drain, args=(proc.stderr, stderr_tail), daemon=True)
    drainer.start()
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        _kill_group(proc)

    timer = threading.Timer(timeout_s, on_timeout) if timeout_s else None
    if timer:
        timer.daemon = True
        timer.start()
    sampler = _GpuMemorySampler(vram_used_paths())
    if sampler.paths:
        sampler.start()
    garbage: str | None = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError:
            garbage = garbage or line.strip()[:120]
            continue
        out.records.append(record)
        if on_record:
            on_record(record)
    status, rusage = _reap(proc, grace_s=EXIT_GRACE_S)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if timer:
        timer.cancel()
    sampler.stop.set()
    drainer.join(timeout=2)
    if interrupt is not None:
        interrupt.proc = None
    out.wall_s = time.monotonic() - t0
    out.stderr_tail = "\n".join(stderr_tail)
    peaks = dict(sampler.peaks)
    if rusage.ru_maxrss:
        peaks["rss"] = rusage.ru_maxrss * 1024  # Linux reports KiB
    out.peaks_bytes = peaks
    if interrupt is not None and interrupt.requested:
        out.status, out.error = "interrupted", "interrupted by the user"
    elif timed_out.is_set():
        out.status, out.error = "failed", f"timed out after {timeout_s:g} s"
    elif code < 0:
        out.status, out.error = "failed", f"llama-bench killed by signal {signal.Signals(-code).name}"
    elif code > 0:
        out.status, out.error = "failed", f"llama-bench exited with code {code}"
    elif garbage is not None:
        out.status, out.error = "failed", f"garbage output from llama-bench: '{garbage}'"
    elif not out.records:
        out.status, out.error = "failed", "llama-bench printed no result"
    return out


def run_matrix(cells: list[Cell], *, llama_bench: str, db: str | Path | None, label: str | None = None,
               matrix: BenchMatrix | None = None, cell_timeout_s: float | None = None,
               resume: bool = False, env: dict | None = None,
               on_cell_start: Callable[[int, int, Cell], None] | None = None,
               on_cell_done: Callable[[int, int, CellOutcome], None] | None = None) -> RunSummary:
    """Run `cells` into the store at `db` under `label`; returns counts and failures."""
    from vtt import store

    label = label or datetime.now().strftime("run-%Y%m%d-%H%M%S")
    fingerprint = collect_fingerprint(llama_bench, env)
    version = fingerprint.get("llama_bench_version") or {}
    with store.open_store(db) as s:
        db_path = str(s.path)
        done = store.finished_cells(s, label) if resume else set()
        # an existing label needs --resume, and a resumed run takes the lease (two resumers cannot both measure)
        run_id, _ = store.open_labelled_run(
            s, label, resume=resume, machine_id=store.upsert_machine(s, fingerprint),
            llama_bench_path=str(llama_bench), backend=version.get("backends"),
            build={"build_commit": version.get("build_commit"), "build_number": version.get("build_number"),
                   **fingerprint["llama_cpp_source"]},
            params={"matrix": matrix.model_dump() if matrix else None, "cell_timeout_s": cell_timeout_s})
    todo = [c for c in cells if c.key not in done]
    ok = failed = 0
    failures = []
    status = "ok"
    with _Interrupt() as interrupt:
        for i, cell in enumerate(todo):
            if interrupt.requested:
                status = "interrupted"
                break
            if on_cell_start:
                on_cell_start(i, len(todo), cell)
            written: list[int] = []

            def save(record: dict, cell=cell, written=written) -> None:
                if fingerprint.get("kernel_env"):  # kept beside the row: a fit reads it (calibrate.rows)
                    record = {**record, "kernel_env": fingerprint["kernel_env"]}
                with store.open_store(db_path) as s, store.transaction(s):  # result + samples together
                    written.append(store.add_result(s, run_id, record, cell_key=cell.key))

            outcome = run_cell(cell, llama_bench, timeout_s=cell_timeout_s, env=env, on_record=save,
                               interrupt=interrupt)
            with store.open_store(db_path) as s, store.transaction(s):
                if outcome.status == "failed":
                    written.append(store.add_result(
                        s, run_id, cell.as_record(), status="failed", cell_key=cell.key, error=outcome.error,
                        stderr_tail=outcome.stderr_tail, wall_s=outcome.wall_s))
                elif written:
                    s.execute("UPDATE results SET wall_s = ? WHERE result_id = ?", [outcome.wall_s, written[0]])
                for kind, peak in outcome.peaks_bytes.items():
                    if written:
                        store.add_memory_peak(s, written[-1], kind, peak,
                                              "wait4 ru_maxrss" if kind == "rss" else f"sysfs mem_info_{kind}_used")
            if outcome.status == "interrupted":
                status = "interrupted"
                break
            if outcome.status == "ok":
                ok += 1
            else:
                failed += 1
                failures.append({"test": cell.test, "model": cell.model, "error": outcome.error,
                                 "stderr_tail": outcome.stderr_tail[-500:]})
            if on_cell_done:
                on_cell_done(i, len(todo), outcome)
    if status == "ok" and failed:
        status = "failed"
    with store.open_store(db_path) as s:
        store.set_run_status(s, run_id, status)
    return RunSummary(run_id=run_id, label=label, status=status, cells_total=len(cells),
                      cells_skipped=len(cells) - len(todo), cells_ok=ok, cells_failed=failed,
                      failures=failures, db=db_path)
