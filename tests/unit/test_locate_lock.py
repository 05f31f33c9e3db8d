"""The llama.cpp build folder lock and find_tool."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vtt.errors import VttError
from vtt.harness.locate import build_lock, find_tool


def test_a_second_build_cannot_take_the_lock_while_the_first_holds_it(tmp_path):
    code = ("import sys; from pathlib import Path; from vtt.harness.locate import build_lock\n"
            "with build_lock(Path(sys.argv[1])):\n    print('held', flush=True); sys.stdin.readline()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(VttError, match="another llama.cpp build holds"):
            with build_lock(tmp_path, wait=False):
                pass
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    with build_lock(tmp_path, wait=False):       # released when the holder ends
        pass


def test_find_tool_refuses_names_it_does_not_build():
    with pytest.raises(VttError, match="unknown llama.cpp tool"):
        find_tool("rm")


def test_find_tool_finds_the_cached_llama_server():
    path = find_tool("llama-server")
    assert path.name == "llama-server" and path.is_file()
