"""Docs that cannot drift: every command has help with an example and is named in the README."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from vtt.cli.app import REGISTRY, app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _commands():
    import importlib

    for mod, attr, name in REGISTRY:
        obj = getattr(importlib.import_module(f"vtt.cli.{mod}"), attr)
        if isinstance(obj, typer.Typer):
            for cmd in obj.registered_commands:
                yield [name, cmd.name or cmd.callback.__name__]
        else:
            yield [name]


def test_every_command_is_in_the_readme():
    missing = [" ".join(c) for c in _commands() if f"vtt {' '.join(c)}" not in README]
    assert not missing, f"README lacks: {missing}"


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for c in _commands():
        r = runner.invoke(app, [*c, "--help"])
        assert r.exit_code == 0, c
        assert "Example" in r.stdout, f"vtt {' '.join(c)} --help has no example"
