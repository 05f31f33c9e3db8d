"""Run a matrix: one llama-bench process per cell, each jsonl row stored as it arrives.

A crash, garbage output or a timeout fails that cell (stderr tail kept) and the run goes on.
Ctrl-C stops the current cell, keeps everything already stored and marks the run interrupted;
`resume=True` with the same label skips cells that already have an ok row.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from vtt.errors import BadQuery
from vtt.harness.fingerprint import collect_fingerprint, vram_used_paths
from vtt.harness.matrix import BenchMatrix, Cell

STDERR_TAIL_LINES = 30
SAMPLE_PERIOD_S = 0.05


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
    """Ctrl-C sets a flag (so a store write is never cut in half) and stops the current cell."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _read_sysfs_bytes(paths: list[str]) -> int | None:
    total = None
    for p in paths:
        try:
            total = (total or 0) + int(Path(p).read_text().strip())
        except (OSError, ValueError):
            continue
    return total


def _proc_rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _pump(stream, q: queue.Queue, tag: str) -> None:
    for line in stream:
        q.put((tag, line))
    q.put((tag, None))


def run_cell(cell: Cell, llama_bench: str, *, timeout_s: float | None = None,
             env: dict | None = None, on_record: Callable[[dict], None] | None = None,
             interrupt: _Interrupt | None = None) -> CellOutcome:
    """Run one cell; every parsed jsonl record goes to `on_record` at once."""
    out = CellOutcome(cell)
    sysfs = vram_used_paths()
    peaks: dict[str, int] = {}
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen([llama_bench, *cell.llama_bench_args()], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace",
                                env=(os.environ | env) if env else None, start_new_session=True)
    except OSError as e:
        out.status, out.error = "failed", f"cannot start llama-bench: {e.strerror}"
        return out
    q: queue.Queue = queue.Queue()
    readers = [threading.Thread(target=_pump, args=(s, q, tag), daemon=True)
               for s, tag in ((proc.stdout, "out"), (proc.stderr, "err"))]
    for t in readers:
        t.start()
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    garbage: str | None = None
    open_streams, exit_status, rusage = 2, None, None
    next_sample = 0.0
    while open_streams or exit_status is None:
        now = time.monotonic()
        if now >= next_sample:
            next_sample = now + SAMPLE_PERIOD_S
            for kind, value in (("rss", _proc_rss_bytes(proc.pid)), ("vram", _read_sysfs_bytes(sysfs["vram"])),
                                ("gtt", _read_sysfs_bytes(sysfs["gtt"]))):
                if value is not None:
                    peaks[kind] = max(peaks.get(kind, 0), value)
        if exit_status is None:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                exit_status, rusage = status, usage
                proc.returncode = os.waitstatus_to_exitcode(status)
        if timeout_s is not None and now - t0 > timeout_s and out.error is None:
            out.status, out.error = "failed", f"timed out after {timeout_s:g} s"
            _kill_group(proc)
        if interrupt is not None and interrupt.requested and out.status != "interrupted":
            out.status, out.error = "interrupted", "interrupted by the user"
            _kill_group(proc)
        try:
            tag, line = q.get(timeout=SAMPLE_PERIOD_S if exit_status is None else 0.5)
        except queue.Empty:
            if exit_status is not None:
                _kill_group(proc)  # a grandchild may hold the pipes; don't wait for it forever
                break
            continue
        if line is None:
            open_streams -= 1
        elif tag == "err":
            stderr_tail.append(line.rstrip("\n"))
        elif line.strip():
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
    out.wall_s = time.monotonic() - t0
    out.stderr_tail = "\n".join(stderr_tail)
    if rusage is not None and rusage.ru_maxrss:
        peaks["rss"] = max(peaks.get("rss", 0), rusage.ru_maxrss * 1024)  # Linux: KiB
    out.peaks_bytes = peaks
    if out.status != "ok":
        return out
    code = proc.returncode
    if code is not None and code < 0:
        out.status, out.error = "failed", f"llama-bench killed by signal {signal.Signals(-code).name}"
    elif code:
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
        previous = store.find_runs(s, label=label)
        if previous and not resume:
            raise BadQuery(f"label '{label}' already exists in {s.path}",
                           hint="continue it with --resume, or pick another --label")
        done = store.finished_cells(s, label) if resume else set()
        machine_id = store.upsert_machine(s, fingerprint)
        if previous:
            run_id = previous[-1]["run_id"]
            store.set_run_status(s, run_id, "running")
        else:
            run_id = store.add_run(
                s, label, machine_id=machine_id, llama_bench_path=str(llama_bench),
                backend=version.get("backends"),
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
                with store.open_store(db_path) as s:
                    written.append(store.add_result(s, run_id, record, cell_key=cell.key))

            outcome = run_cell(cell, llama_bench, timeout_s=cell_timeout_s, env=env, on_record=save,
                               interrupt=interrupt)
            with store.open_store(db_path) as s:
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
