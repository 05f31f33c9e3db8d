"""The `vtt` command line: a typer app whose commands live one per module in vtt.cli.

This module imports typer only; each command imports its heavy modules inside the function
so `vtt plan` starts fast. `main` is the one place where VttError becomes a message + exit code.

Start-up: typer >= 0.2x coerces every option's value through a pydantic TypeAdapter that it
builds on first use (~20 ms per option, 0.3-0.4 s for `vtt plan`'s options on a 2-core machine), and
importing typer itself costs ~35 ms. So a well-formed `vtt plan ...` is parsed here from the
command's own typer declarations, read once and cached on disk (`_plan_declarations`), and
vtt.cli.plan_run.run is called with the same values typer would pass: no typer at all. Anything
unusual (help, an unknown option, a bad number, a type it does not know) builds the typer app
(`_build_app`), so messages and behaviour stay typer's.

Then one catalog query is answered with vtt.lightweight's stand-ins for pydantic's models, from the
cached World (`_light_query`): importing pydantic.main and building the spec classes cost about
as much again as the rest of a cold `vtt plan`. Whatever the stand-ins cannot settle (an invalid
value, a cache miss, any error answer) is answered again in a fresh import with pydantic, so its
output is the full path's (tests/cli/test_plan_light.py compares both; VTT_PLAN_LIGHT=0 turns the
stand-ins off).
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

from vtt.errors import VttError

def version_line() -> str:
    from vtt import __version__
    from vtt.harness.locate import LLAMA_CPP_COMMIT, SDIST_NAME, SDIST_VERSION

    return f"vtt {__version__} (llama.cpp {LLAMA_CPP_COMMIT[:12]}, pinned by {SDIST_NAME}=={SDIST_VERSION})"


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



_APP = None


def _build_app(only: str | None = None):
    """The typer app with every command (typer is imported here: a plain `vtt plan` never needs it)."""
    global _APP
    if _APP is not None:
        return _APP
    import typer

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

    for mod_name, attr, name in REGISTRY:
        if only and name != only:
            continue
        obj = getattr(importlib.import_module(f"vtt.cli.{mod_name}"), attr)
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=name)
        else:
            app.command(name=name)(obj)
    _APP = app
    return app


def __getattr__(name: str):
    if name == "app":  # `from vtt.cli.app import app` (tests, python -m vtt.cli): built on first use
        return _build_app()
    raise AttributeError(name)


# `vtt plan` is the hot path: a plain command line is read without typer (`_fast_call`); anything
# else builds the app with every command, help included.
_FAST = "plan" if len(sys.argv) > 2 and sys.argv[1] == "plan" and "--help" not in sys.argv else None


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


def _declarations(fn) -> list[tuple[str, bool, tuple[str, ...], object, object]]:
    """(name, is_argument, option names, plain type, default) per parameter, read from the typer
    declarations of `fn`; _Unusual if any is not plain. Plain data, so it can be cached on disk and a
    later `vtt plan` parses its command line without importing typer (`_plan_declarations`)."""
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
        is_arg = isinstance(info, ArgumentInfo)
        decls = tuple(info.param_decls or ())
        if isinstance(info.default, str) and info.default.startswith("-"):
            decls = (info.default, *decls)  # Annotated[..., typer.Option("--name", "-n")]: typer's rule too
        if not is_arg and not decls:
            raise _Unusual(name)  # typer would derive the name; rare enough to leave to it
        out.append((name, is_arg, decls, base, p.default))
    return out


def _plan_declarations() -> list:
    """`vtt plan`'s declarations, cached on disk per version of vtt.cli.plan (importing typer and
    reading them costs ~40 ms; the cached list costs <1 ms)."""
    from vtt import __version__
    from vtt.cache import disk_cached, file_key

    src = Path(__file__).with_name("plan.py")
    return disk_cached("cli-plan-declarations", f"{__version__}|{file_key(src)}|{file_key(__file__)}",
                       lambda: _declarations(importlib.import_module("vtt.cli.plan").plan))


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
    values = {name: default for name, _, _, _, default in decls}
    flags, takes, positional = {}, {}, []
    for name, is_arg, names, kind, _ in decls:
        if is_arg:
            positional.append((name, kind))
            continue
        for decl in names:
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


def _fast_call(argv: list[str]) -> bool:
    """Run `vtt plan` on argv without typer (and without its per-option adapters); False: let typer
    parse it (help, an unknown option, a bad number ...), so its messages and exit codes stay."""
    try:
        kwargs = _parse(_plan_declarations(), argv)
    except _Unusual:
        return False
    if _light_query(kwargs):
        from vtt import lightweight

        before = set(sys.modules)
        lightweight.ACTIVE = True
        try:
            from vtt.cli.plan_run import run

            run(**kwargs, light=True)
            return True
        except Exception:  # noqa: BLE001 - NeedFull, or anything else: answered again with pydantic below
            lightweight.purge(before)
    from vtt.cli.plan_run import run

    run(**kwargs)  # exit status 2 for failed batch lines: SystemExit, as typer.Exit would give
    return True


def _light_query(kw: dict) -> bool:
    """One catalog model, answered from the cached World without pydantic's models (vtt.lightweight).
    A file, URL, batch or mode preset goes straight to the full path, where it needs pydantic
    anyway (GGUF headers become validated specs; modes load their own files)."""
    model = kw.get("model")
    if os.environ.get("VTT_PLAN_LIGHT") == "0":  # tests compare both paths' answers
        return False
    if not isinstance(model, str) or kw.get("batch") is not None or kw.get("hf_repo") is not None:
        return False
    if "/" in model or "\\" in model or model.lower().endswith(".gguf") or ":" in model or len(model) > 200:
        return False  # a path, URL or hf: ref; or a name no catalog has, whose error the full path words
    return not kw.get("mode")


def main() -> None:
    try:
        if sys.argv[1:] == ["--version"]:
            print(version_line())
            return
        if _FAST and _fast_call(sys.argv[2:]):
            return
        _build_app()(prog_name="vtt")
    except VttError as e:
        emit_error(e, "--json" in sys.argv)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("vtt: interrupted", file=sys.stderr)
        sys.exit(130)
