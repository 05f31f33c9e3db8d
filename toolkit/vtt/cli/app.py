"""The `vtt` command line: a typer app whose commands live one per module in vtt.cli.

This module imports typer only; each command imports its heavy modules inside the function
so `vtt plan` starts fast. `main` is the one place where VttError becomes a message + exit code.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

# pydantic scans every installed package's entry points for plugins on first use (~30 ms);
# vtt uses none, and `vtt plan` must start in well under a second.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer

from vtt.errors import VttError

app = typer.Typer(
    name="vtt",
    help=(
        "Predict what a local LLM costs on your hardware (memory, prompt and generation speed) "
        "before you download it, and prove it with real llama-bench runs.\n\n"
        "Start with: vtt plan glm-4.7-flash --quant Q8_0 --context 65536"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

@app.callback()
def _group() -> None:
    """Keeps vtt a command group even when only one command is registered (the plan fast path)."""


# (module in vtt.cli, attribute, command name); a typer.Typer attribute becomes a command group.
REGISTRY: list[tuple[str, str, str]] = [
    ("plan", "plan", "plan"),
    ("catalog", "catalog", "catalog"),
    ("bench", "bench", "bench"),
    ("drift", "drift", "drift"),
    ("runs", "runs", "runs"),
    ("ingest", "ingest", "ingest"),
    ("calibrate", "calibrate", "calibrate"),
    ("report", "report", "report"),
    ("optimize", "optimize", "optimize"),
    ("check", "check", "check"),
    ("fit", "fit", "fit"),
]


def _register(only: str | None = None) -> None:
    for mod_name, attr, name in REGISTRY:
        if only and name != only:
            continue
        obj = getattr(importlib.import_module(f"vtt.cli.{mod_name}"), attr)
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=name)
        else:
            app.command(name=name)(obj)


# `vtt plan` is the hot path: build only its command (typer builds every registered command's
# parser at start-up, ~40 ms for all of them); everything else, help included, sees them all.
_FAST = "plan" if len(sys.argv) > 2 and sys.argv[1] == "plan" and "--help" not in sys.argv else None
_register(_FAST)


def emit_error(e: VttError, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": e.to_dict()}))
    else:
        print(f"vtt: error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)


def main() -> None:
    try:
        app(prog_name="vtt")
    except VttError as e:
        emit_error(e, "--json" in sys.argv)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("vtt: interrupted", file=sys.stderr)
        sys.exit(130)
