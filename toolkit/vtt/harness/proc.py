"""The one place vtt starts a child process it must never leave behind (llama-server, llama-bench).

`ChildProcess` starts an argument list (never a shell string) in its own process group and session
(`start_new_session=True`), with PR_SET_PDEATHSIG=SIGTERM set in the child, and kills the whole group
(SIGTERM, then SIGKILL after a grace period) on every way out of the `with` block: normal exit, an
exception, Ctrl-C, and SIGTERM sent to vtt (a handler turns it into `Terminated`, a KeyboardInterrupt,
so the block unwinds). A `kill -9` of vtt itself cannot run any Python; the death signal covers it:
the kernel sends SIGTERM to the child when its parent thread dies (prctl(2), PR_SET_PDEATHSIG).

Self-contained on purpose (stdlib only): `bench run` and `bench serve` both use it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Sequence

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
DEFAULT_GRACE_S = 5.0


class Terminated(KeyboardInterrupt):
    """SIGTERM reached vtt; raised from the signal handler so every `with` block unwinds and cleans up."""


def _death_signal_preexec(parent_pid: int):
    """Runs in the child between fork and exec: ask the kernel for SIGTERM when the parent dies.

    The parent may already have died before prctl ran (then getppid() is no longer it): exit at once.
    Note the kernel ties the signal to the parent *thread*; start children from a thread that lives
    as long as the child should (the main thread in vtt).
    """

    def preexec() -> None:
        if not sys.platform.startswith("linux"):
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def _raise_terminated(signum, frame):
    raise Terminated(f"signal {signum}")


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a container's PID 1 may never reap orphans)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not sys.platform.startswith("linux")
    state = stat[stat.rfind(b")") + 2:][:1]
    return state not in (b"Z", b"X")


def group_pids(pgid: int) -> list[int]:
    """Live processes in process group `pgid` (Linux /proc; empty elsewhere)."""
    out = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        # fields: state ppid pgrp ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            out.append(int(name))
    return out


class ChildProcess:
    """`with ChildProcess(["llama-server", ...], stdout=f) as child:` ... the group is gone afterwards.

    Extra keyword arguments go to `subprocess.Popen` (stdout, stderr, env, cwd, text ...), except the
    ones this class owns (shell, start_new_session, preexec_fn).
    """

    def __init__(self, argv: Sequence[str], *, grace_s: float = DEFAULT_GRACE_S,
                 handle_sigterm: bool = True, **popen_kwargs):
        if isinstance(argv, (str, bytes)):
            raise TypeError("ChildProcess takes an argument list, never a shell string")
        for owned in ("shell", "start_new_session", "preexec_fn", "process_group"):
            if owned in popen_kwargs:
                raise TypeError(f"ChildProcess sets {owned} itself")
        self.argv = [str(a) for a in argv]
        self.grace_s = grace_s
        self.handle_sigterm = handle_sigterm
        self.popen_kwargs = popen_kwargs
        self.proc: subprocess.Popen | None = None
        self._previous_sigterm = None
        self._installed = False

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> subprocess.Popen:
        if self.proc is not None:
            return self.proc
        if self.handle_sigterm and threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated)
            self._installed = True
        try:
            self.proc = subprocess.Popen(self.argv, start_new_session=True,
                                         preexec_fn=_death_signal_preexec(os.getpid()),
                                         **self.popen_kwargs)
        except BaseException:
            self._restore_sigterm()
            raise
        return self.proc

    def __enter__(self) -> "ChildProcess":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()

    def stop(self) -> int | None:
        """Kill the whole group: SIGTERM, wait up to grace_s, then SIGKILL; reap the leader. Idempotent.

        Returns the leader's exit status. SIGTERM/SIGINT arriving during the stop are held off so
        the clean-up itself cannot be cut in half."""
        proc = self.proc
        if proc is None:
            self._restore_sigterm()
            return None
        try:
            with _signals_deferred():
                self._kill_group(proc)
        finally:
            self._restore_sigterm()
        return proc.returncode

    def _kill_group(self, proc: subprocess.Popen) -> None:
        pgid = proc.pid  # start_new_session: the leader's pid is the group id
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline:
            proc.poll()
            if proc.returncode is not None and not group_pids(pgid):
                break
            time.sleep(0.02)
        _signal_group(pgid, signal.SIGKILL)
        try:
            proc.wait(timeout=max(self.grace_s, 1.0))
        except subprocess.TimeoutExpired:  # unkillable (D state): nothing more we can do
            pass
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def _restore_sigterm(self) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._installed = False

    # --- queries ---------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def rss_bytes(self) -> int | None:
        """Resident set size of the leader now (VmRSS in /proc/PID/status), None once it is gone."""
        if self.proc is None:
            return None
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _signals_deferred:
    """Hold SIGINT/SIGTERM while cleaning up (main thread only); re-deliver the first one afterwards."""

    def __enter__(self):
        self.pending: list[int] = []
        self.previous: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, lambda s, f: self.pending.append(s))
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if self.pending and exc[0] is None:
            os.kill(os.getpid(), self.pending[0])
