"""Open the DuckDB file: default location, lock retries, migrations.

DuckDB lets one process write a file at a time (and a writer excludes readers in other
processes). We open, retry while another vtt holds the lock, then fail with a clear
EnvironmentProblem; we never touch the file behind DuckDB's back, so it cannot be corrupted.
Long-running writers (bench run) open the store per write so others get a turn.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import duckdb

from vtt.errors import EnvironmentProblem, VttError
from vtt.store.schema import apply_migrations, schema_version

DEFAULT_LOCK_TIMEOUT_S = 30.0
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "lock on file")


def default_db_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vtt" / "vtt.duckdb"


def lock_timeout_s() -> float:
    """VTT_DB_LOCK_TIMEOUT_S overrides how long to wait for another writer."""
    try:
        return float(os.environ.get("VTT_DB_LOCK_TIMEOUT_S", DEFAULT_LOCK_TIMEOUT_S))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT_S


class Store:
    """An open connection; use as a context manager so the lock is released promptly."""

    def __init__(self, conn, path: Path, read_only: bool):
        self.conn = conn
        self.path = path
        self.read_only = read_only

    def execute(self, sql: str, params=None):
        return self.conn.execute(sql, params or [])

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return schema_version(self.conn)


def _waiting_glob(p: Path) -> str:
    return f".{p.name}.waiting.*"


def _mark_waiting(p: Path) -> Path | None:
    """Say 'I am waiting for the lock' beside the database, for long writers to yield to."""
    marker = p.parent / f".{p.name}.waiting.{os.getpid()}"
    try:
        marker.touch()
    except OSError:
        return None
    return marker


def yield_to_waiters(path: str | Path | None, max_wait_s: float = 10.0) -> None:
    """Between two transactions of a long writer (ingest), with the database closed: let every
    process waiting for the lock take its turn (DuckDB's lock is not fair: an immediate reopen
    would win every time)."""
    p = Path(path) if path else default_db_path()
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        waiting = []
        for m in p.parent.glob(_waiting_glob(p)):
            pid = m.name.rsplit(".", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and Path(f"/proc/{pid}").exists():
                waiting.append(m)
            elif pid.isdigit() and int(pid) != os.getpid():
                with contextlib.suppress(OSError):
                    m.unlink()  # its process is gone
        if not waiting:
            return
        time.sleep(0.02)


def _is_lock_error(e: Exception) -> bool:
    return any(m in str(e) for m in _LOCK_MARKERS)


def open_store(path: str | Path | None = None, read_only: bool = False,
               timeout_s: float | None = None) -> Store:
    """Open (and migrate, unless read-only) the vtt database at `path`."""
    p = Path(path) if path else default_db_path()
    if read_only and not p.exists():
        raise VttError(f"no vtt database at {p}", code="no_database",
                       hint="record results first: vtt bench run ... or vtt ingest FILE")
    if not read_only:
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EnvironmentProblem(f"cannot create database folder {p.parent}: {e.strerror}") from None
    wait_s = lock_timeout_s() if timeout_s is None else timeout_s
    deadline = time.monotonic() + wait_s
    delay_s = 0.01
    marker: Path | None = None
    try:
        while True:
            try:
                conn = duckdb.connect(str(p), read_only=read_only)
                break
            except duckdb.Error as e:
                if not _is_lock_error(e):
                    raise EnvironmentProblem(f"cannot open database {p}: {str(e).splitlines()[0]}") from None
                if time.monotonic() >= deadline:
                    raise EnvironmentProblem(
                        f"database is locked by another vtt process: {p} (waited {wait_s:g} s)",
                        code="database_locked",
                        hint="wait for the other vtt command to finish, or use --db with another file",
                    ) from None
                if marker is None:
                    marker = _mark_waiting(p)
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 0.05)
    finally:
        if marker is not None:
            with contextlib.suppress(OSError):
                marker.unlink()
    store = Store(conn, p, read_only)
    if not read_only:
        try:
            apply_migrations(conn)
            from vtt.store.owners import reap_dead_runs

            reap_dead_runs(store)  # runs whose process died (kill -9, power) are not 'running'
        except Exception:
            conn.close()
            raise
    return store
