"""`vtt plan`'s fast path (vtt.cli.app._fast_call) reads the same command lines as typer does."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from vtt.cli import app as app_mod
from vtt.cli.plan import plan

LINES = [
    ["glm-4.7-flash", "--quant", "Q8_0", "--context", "65536", "--json"],
    ["GLM-4.7-Flash-Q8", "-c", "131072", "-d", "32768", "--json"],
    ["gpt-oss-20b", "--context=32768", "--flash-attn", "--kv-type", "q8_0", "-np", "4", "--kv-unified", "--json"],
    ["qwen3-30b-a3b", "-q", "Q4_K_M", "--no-flash-attn", "--mla-v-less", "--json", "--"],
]


def _vtt(*args):
    return subprocess.run([sys.executable, "-m", "vtt.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("line", LINES)
def test_fast_path_answers_exactly_as_typer(line):
    assert app_mod._parse(app_mod._declarations(plan), line)  # the fast path takes this line
    fast = _vtt("plan", *line)
    slow = CliRunner().invoke(app_mod.app, ["plan", *line], catch_exceptions=False)
    assert fast.returncode == slow.exit_code == 0, fast.stderr
    assert [json.loads(x) for x in fast.stdout.splitlines()] == [json.loads(x) for x in slow.output.splitlines()]


@pytest.mark.parametrize("line", [["glm-4.7-flash", "-c", "abc"], ["glm-4.7-flash", "--bogus"], ["glm-4.7-flash", "-c65536"],
                                  ["glm-4.7-flash", "-c"], ["a", "b"], ["glm-4.7-flash", "--help"]])
def test_unusual_lines_go_to_typer(line):
    with pytest.raises(app_mod._Unusual):
        app_mod._parse(app_mod._declarations(plan), line)


def test_bad_number_keeps_typers_message_and_exit_code():
    r = _vtt("plan", "glm-4.7-flash", "-c", "abc")
    assert r.returncode == 2 and "Invalid value for '--context'" in r.stderr


def test_version_names_vtt_and_the_pinned_llama_cpp():
    from vtt import __version__
    from vtt.harness.locate import LLAMA_CPP_COMMIT, SDIST_VERSION

    for args in (["--version"], ["--version", "plan"]):
        r = _vtt(*args)
        assert r.returncode == 0, r.stderr
        assert __version__ in r.stdout and LLAMA_CPP_COMMIT[:12] in r.stdout and SDIST_VERSION in r.stdout


def test_choices_and_enums_read_like_typer():
    import enum
    from typing import Annotated, Literal

    import typer

    class Units(str, enum.Enum):
        gb = "GB"
        gib = "GiB"

    def cmd(units: Annotated[Literal["GB", "GiB"], typer.Option("--units")] = "GiB",
            mode: Annotated[Units, typer.Option("--mode")] = Units.gib) -> None:
        pass

    decls = app_mod._declarations(cmd)
    assert app_mod._parse(decls, ["--units", "GB", "--mode", "GB"]) == {"units": "GB", "mode": Units.gb}
    assert app_mod._parse(decls, []) == {"units": "GiB", "mode": Units.gib}
    for bad in (["--units", "gb"], ["--mode", "TB"]):  # typer says what is wrong
        with pytest.raises(app_mod._Unusual):
            app_mod._parse(decls, bad)
    captured = {}
    runner_app = typer.Typer()  # typer itself reads the same line to the same values

    @runner_app.command()
    def same(units: Annotated[Literal["GB", "GiB"], typer.Option("--units")] = "GiB",
             mode: Annotated[Units, typer.Option("--mode")] = Units.gib) -> None:
        captured.update(units=units, mode=mode)

    CliRunner().invoke(runner_app, ["--units", "GB", "--mode", "GB"], catch_exceptions=False)
    assert captured == {"units": "GB", "mode": Units.gb}
