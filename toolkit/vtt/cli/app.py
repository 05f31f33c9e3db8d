"""The `vtt` command line: a typer app whose commands live one per module in vtt.cli.

This module imports typer only; each command imports its heavy modules inside the function
so `vtt plan` starts fast. `main` is the one place where VttError becomes a message + exit code.

Start-up: typer >= 0.2x coerces every option's value through a pydantic TypeAdapter that it
builds on first use (typer/_coercion.py build_runtime_param -> typer/_adapters.py), ~20 ms per
option and 0.3-0.4 s for `vtt plan`'s 20 options on a 2-core machine. So a well-formed
`vtt plan ...` is parsed here from the command's own typer declarations (`_fast_call`), and the
same function is called with the same values; anything unusual (help, an unknown option, a bad
number, a type it does not know) goes to typer, so messages and behaviour stay typer's.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import types
from pathlib import Path

# pydantic scans every installed package's entry points for plugins on first use (~30 ms);
# vtt uses none, and `vtt plan` must start in well under a second.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
if os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__" and "pydantic.plugin._loader" not in sys.modules:
    # With plugins off, pydantic's plugin loader still imports importlib.metadata (email, zipfile,
    # csv: ~25 ms) the first time it builds a validator. Its one function then returns (), so
    # the CLI gives it that function directly.
    _loader = types.ModuleType("pydantic.plugin._loader")
    _loader.get_plugins = lambda: ()
    sys.modules["pydantic.plugin._loader"] = _loader

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

def version_line() -> str:
    from vtt import __version__
    from vtt.harness.locate import LLAMA_CPP_COMMIT, SDIST_NAME, SDIST_VERSION

    return f"vtt {__version__} (llama.cpp {LLAMA_CPP_COMMIT[:12]}, pinned by {SDIST_NAME}=={SDIST_VERSION})"


def _print_version(value: bool) -> None:
    if value:
        print(version_line())
        raise typer.Exit()


@app.callback()
def _group(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="print vtt's version and the pinned llama.cpp build, then exit"),
) -> None:
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


# ---- the fast path: parse a plain command line from the command's own declarations ----
_PLAIN = (str, int, float, bool, Path)
_OFF_FAST_PATH = ("callback", "envvar", "parser", "click_type", "min", "max", "prompt")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class _Unusual(Exception):
    """Not a command line the fast path knows how to read: typer reads it."""


def _declarations(fn) -> list[tuple[str, object, type, object]]:
    """(name, typer info, plain type, default) per parameter; _Unusual if any is not plain."""
    import inspect
    import typing

    from typer.models import ArgumentInfo, OptionInfo

    hints = typing.get_type_hints(fn, include_extras=True)
    out = []
    for name, p in inspect.signature(fn).parameters.items():
        hint = hints.get(name)
        if typing.get_origin(hint) is not typing.Annotated:
            raise _Unusual(name)
        base, *meta = typing.get_args(hint)
        info = next((m for m in meta if isinstance(m, (OptionInfo, ArgumentInfo))), None)
        args = [a for a in typing.get_args(base) if a is not type(None)]
        if typing.get_origin(base) in (typing.Union, types.UnionType) and len(args) == 1:
            base = args[0]
        if info is None or not _known(base) or p.default is inspect.Parameter.empty \
                or any(getattr(info, a, None) for a in _OFF_FAST_PATH) or getattr(info, "count", False) \
                or not getattr(info, "expose_value", True):
            raise _Unusual(name)
        out.append((name, info, base, p.default))
    return out


def _known(kind) -> bool:
    import enum
    import typing

    if typing.get_origin(kind) is typing.Literal:
        return all(isinstance(v, str) for v in typing.get_args(kind))
    return kind in _PLAIN or isinstance(kind, type) and issubclass(kind, enum.Enum) \
        and all(isinstance(m.value, str) for m in kind)


def _convert(text: str, kind):
    import enum
    import typing

    if typing.get_origin(kind) is typing.Literal and text in typing.get_args(kind):
        return text
    if isinstance(kind, type) and issubclass(kind, enum.Enum) and text in {m.value for m in kind}:
        return kind(text)
    if kind is int and _INT.fullmatch(text):
        return int(text)
    if kind is float and _FLOAT.fullmatch(text):
        return float(text)
    if kind is str:
        return text
    if kind is Path and text:
        return Path(text)
    raise _Unusual(text)


def _parse(decls, argv: list[str]) -> dict:
    from typer.models import ArgumentInfo

    values = {name: default for name, _, _, default in decls}
    flags, takes, positional = {}, {}, []
    for name, info, kind, _ in decls:
        if isinstance(info, ArgumentInfo):
            positional.append((name, kind))
            continue
        decls = tuple(info.param_decls or ())
        if isinstance(info.default, str) and info.default.startswith("-"):
            decls = (info.default, *decls)  # Annotated[..., typer.Option("--name", "-n")]: typer's rule too
        if not decls:
            raise _Unusual(name)  # typer would derive the name; rare enough to leave to it
        for decl in decls:
            on, _, off = decl.partition("/")
            if kind is bool:
                flags[on] = (name, True)
                if off:
                    flags[off] = (name, False)
            elif off:
                raise _Unusual(decl)
            else:
                takes[on] = (name, kind)
    i, seen_args, only_args = 0, 0, False
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok == "--" and not only_args:
            only_args = True
        elif not only_args and tok in flags:
            name, value = flags[tok]
            values[name] = value
        elif not only_args and (tok in takes or tok.split("=", 1)[0] in takes and tok.startswith("--")):
            opt, eq, text = tok.partition("=")
            if not eq:
                if i >= len(argv):
                    raise _Unusual(tok)
                text = argv[i]
                i += 1
            name, kind = takes[opt]
            values[name] = _convert(text, kind)
        elif tok.startswith("-") and len(tok) > 1 and not only_args:
            raise _Unusual(tok)  # unknown, combined (-c4096) or a negative number: typer decides
        elif seen_args < len(positional) and positional[seen_args][1] is not bool:
            name, kind = positional[seen_args]
            values[name] = _convert(tok, kind)
            seen_args += 1
        else:
            raise _Unusual(tok)
    return values


def _fast_call(fn, argv: list[str]) -> bool:
    """Run `fn` on argv without building typer's per-option adapters; False: let typer do it."""
    try:
        kwargs = _parse(_declarations(fn), argv)
    except _Unusual:
        return False
    try:
        fn(**kwargs)
    except typer.Exit as e:
        sys.exit(getattr(e, "exit_code", 0))
    return True


def main() -> None:
    try:
        if sys.argv[1:] == ["--version"]:
            print(version_line())
            return
        if _FAST and _fast_call(getattr(importlib.import_module("vtt.cli.plan"), "plan"), sys.argv[2:]):
            return
        app(prog_name="vtt")
    except VttError as e:
        emit_error(e, "--json" in sys.argv)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("vtt: interrupted", file=sys.stderr)
        sys.exit(130)
