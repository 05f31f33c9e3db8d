"""ChildProcess leaves no child behind: normal exit, exception, Ctrl-C, SIGTERM to vtt, kill -9 of vtt.

Real children (`sleep`, `sh`), real signals; each test waits for the kernel, never for a mock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from vtt.harness.proc import ChildProcess, Terminated, group_pids, pid_alive

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups + /proc")


def _gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return False


def _grandchild_shell() -> list[str]:
    # the leader (sh) forks a sleep into the same group and prints its pid: both must die
    return ["sh", "-c", "sleep 1000 & echo $!; wait"]


def test_normal_exit_kills_the_group():
    with ChildProcess(_grandchild_shell(), stdout=subprocess.PIPE, text=True) as child:
        grandchild = int(child.proc.stdout.readline())
        leader = child.pid
        assert pid_alive(leader) and pid_alive(grandchild)
    assert _gone(leader) and _gone(grandchild)
    assert group_pids(leader) == []


def test_exception_kills_the_child():
    with pytest.raises(RuntimeError):
        with ChildProcess(["sleep", "1000"]) as child:
            pid = child.pid
            raise RuntimeError("boom")
    assert _gone(pid)


def test_ctrl_c_kills_the_child():
    with pytest.raises(KeyboardInterrupt):
        with ChildProcess(["sleep", "1000"]) as child:
            pid = child.pid
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises before this ends
    assert _gone(pid)


def test_sigterm_to_vtt_raises_and_kills_the_child():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with ChildProcess(["sleep", "1000"]) as child:
            pid = child.pid
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert _gone(pid)
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored


def test_child_ignoring_sigterm_gets_sigkill_after_grace():
    argv = [sys.executable, "-c", "import signal,time,sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(1000)"]
    t0 = time.monotonic()
    with ChildProcess(argv, grace_s=0.5, stdout=subprocess.PIPE, text=True) as child:
        assert child.proc.stdout.readline().strip() == "ready"
        pid = child.pid
    assert _gone(pid)
    assert child.proc.returncode == -signal.SIGKILL
    assert time.monotonic() - t0 < 5


def test_shell_strings_are_refused():
    with pytest.raises(TypeError):
        ChildProcess("sleep 1000")
    with pytest.raises(TypeError):
        ChildProcess(["sleep", "1"], shell=True)


def _parent_script(tmp_path) -> str:
    # a stand-in for vtt: starts a child through ChildProcess, prints its pid, then waits
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(os.path.dirname(os.path.dirname(os.path.abspath(__import__('vtt').__file__))))!r})
        from vtt.harness.proc import ChildProcess
        with ChildProcess(["sleep", "1000"]) as child:
            print(child.pid, flush=True)
            time.sleep(1000)
    """))
    return str(script)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_signal_to_parent_process_leaves_no_orphan(tmp_path, sig):
    parent = subprocess.Popen([sys.executable, _parent_script(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert pid_alive(child)
        parent.send_signal(sig)
        parent.wait(timeout=10)
        # SIGTERM/SIGINT: the with block unwinds; SIGKILL: the kernel's death signal does it
        assert _gone(child), f"child {child} outlived its parent after signal {sig}"
    finally:
        parent.kill()
        parent.wait()
