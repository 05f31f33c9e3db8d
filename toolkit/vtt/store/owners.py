"""Which process owns a 'running' run (pid, its start time, host), so a run left 'running' by a
process that died is marked interrupted on the next open. Kept apart from records.py because the
store's `open_store` calls `reap_dead_runs` (records imports db; db must not import records)."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone


def _start_ticks(pid: int) -> int | None:
    """Process start time in clock ticks since boot (/proc/PID/stat field 22): with the pid it
    names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        if fields[0] in (b"Z", b"X"):
            return None
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def this_process() -> tuple[int, int | None, str]:
    pid = os.getpid()
    return pid, _start_ticks(pid), socket.gethostname()


def owner_alive(pid: int | None, start: int | None, host: str | None) -> bool:
    """False only when the owner certainly died: same host, and no process with that pid and start."""
    if pid is None or host != socket.gethostname():
        return pid is not None  # another machine's process: cannot tell, assume it lives
    ticks = _start_ticks(int(pid))
    if ticks is None:
        return False
    return start is None or ticks == start


def reap_dead_runs(store) -> list[int]:
    """Mark 'interrupted' every run left 'running' by a process of this host that is gone."""
    rows = store.execute("SELECT run_id, owner_pid, owner_start, owner_host FROM runs "
                         "WHERE status = 'running'").fetchall()
    dead = [r[0] for r in rows if r[1] is not None and not owner_alive(r[1], r[2], r[3])]
    for run_id in dead:
        store.execute("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE run_id = ? "
                      "AND status = 'running'", [datetime.now(timezone.utc).replace(tzinfo=None), run_id])
    return dead


