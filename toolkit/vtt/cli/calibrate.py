"""`vtt calibrate`: fit the speed model to measured llama-bench rows; `vtt plan` then uses it."""

from __future__ import annotations

import json
import re
from typing import Annotated, Optional

import typer

# A calibration fitted on less than this does not replace the one `vtt plan` uses, unless --force: a fit
# on a handful of rows, or on one or two model families, has no honest leave-family-out interval
# (calibrate/pipeline.py cross-validates from 3 families on).
MIN_ROWS = 30
MIN_FAMILIES = 3
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def safe_name(kind: str, value: str) -> str:
    """Labels and calibration ids become file names: letters, digits, '.', '_' and '-' only, no '..'."""
    from vtt.errors import BadQuery

    if not _NAME.fullmatch(value or "") or ".." in value:
        raise BadQuery(f"bad {kind} '{value}': use letters, digits, '.', '_' and '-' (it names a file)")
    return value


def _user_file(cal_id: str) -> list:
    """The user calibration files holding `cal_id`, each checked to lie inside the user calibration folder."""
    from vtt.calibration import load_calibration_file, user_calibration_dir

    root = user_calibration_dir().resolve()
    out = []
    if root.is_dir():
        for p in sorted(root.glob("*/*/*.yaml")):
            rp = p.resolve()
            if rp.is_relative_to(root) and load_calibration_file(p).id == cal_id:
                out.append(rp)
    return out


def _current(world, hardware: str, backend: str):
    """The calibration `vtt plan` uses now for hardware x backend (None: only physics defaults)."""
    from vtt.calibration import find_calibration

    be = world.get_backend(backend)
    cal = find_calibration(world.roots, hardware, backend, None, be.defaults)
    return None if cal.id.startswith("physics") else cal


def _guard(current, force: bool):
    from vtt.errors import BadQuery

    def check(cal) -> None:
        fams = len((cal.residual_stats or {}).get("families") or [])
        thin = [f"{cal.n_points} rows < {MIN_ROWS}" for _ in [0] if cal.n_points < MIN_ROWS] + \
               [f"{fams} model families < {MIN_FAMILIES}" for _ in [0] if fams < MIN_FAMILIES]
        if thin and current is not None and not force:
            raise BadQuery(f"refusing to replace calibration {current.id} ({current.n_points} rows) with one fitted "
                           f"on {' and '.join(thin)}",
                           hint="measure more (vtt bench run, vtt ingest), or pass --force to use it anyway")

    return check


def calibrate(
    hardware: Annotated[str, typer.Option("--hardware", help="hardware spec id")] = "strix-halo-128",
    backend: Annotated[Optional[str], typer.Option("--backend", help="vulkan-radv, vulkan-amdvlk, rocm ...")] = None,
    db: Annotated[Optional[str], typer.Option("--db", help="DuckDB file (default: $XDG_DATA_HOME/vtt/vtt.duckdb)")] = None,
    csv: Annotated[Optional[str], typer.Option("--csv", help="fit rows of a CSV in the public calibration schema instead of the store")] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="only results of runs with this label")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="only llama.cpp builds from this one on (b7000 or 7000)")] = None,
    list_: Annotated[bool, typer.Option("--list", help="list the calibrations vtt can use, newest first")] = False,
    use: Annotated[Optional[str], typer.Option("--use", help="make calibration ID the one vtt plan uses for its hardware x backend")] = None,
    remove: Annotated[Optional[str], typer.Option("--remove", help="delete your calibration ID (shipped ones stay)")] = None,
    force: Annotated[bool, typer.Option("--force", help=f"replace the current calibration even with a fit on fewer than {MIN_ROWS} rows or {MIN_FAMILIES} model families")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="measure the designed quick set here (operators + 12 llama-bench rows, <= 10 min) and fit from it")] = False,
    ops_backend: Annotated[Optional[str], typer.Option("--ops-backend", help="--quick: test-backend-ops backend (CPU, Vulkan0 ...; default from --backend)")] = None,
    model_dir: Annotated[Optional[str], typer.Option("--model-dir", help="--quick: where the random-weight models are written")] = None,
    prior: Annotated[Optional[str], typer.Option("--prior", help="--quick: start from this calibration id (of --prior-hardware)")] = None,
    prior_hardware: Annotated[Optional[str], typer.Option("--prior-hardware", help="--quick: a card whose calibration transfers (e.g. h100-sxm-80)")] = None,
    quick_model: Annotated[Optional[list[str]], typer.Option("--quick-model", help="--quick: use these GGUF files instead of writing the quick models")] = None,
):
    """Fit pp/tg speed parameters to measurements and make them `vtt plan`'s default.

    The fit is saved in the store (versioned id, residual stats, covariance, build range) and
    exported as YAML under $XDG_DATA_HOME/vtt/calibrations/<hardware>/<backend>/; `vtt plan`
    uses the newest unless given --calibration ID. Interval widths come from
    leave-one-model-family-out residuals. A fit on fewer than 30 rows or 3 model families does not
    replace an existing calibration unless --force. --use ID makes an older one current again;
    --remove ID deletes one of yours. Labels name files, so they are letters, digits, '.', '_', '-'.

    Operator rows of the same hardware x backend in the store (`vtt bench ops`) fill what the
    llama-bench rows leave open; those of `--profile depth` become depth curves: prompts at depth on
    models of a measured attention shape follow this machine's flash-attention rate against KV length.

    Examples:

      vtt calibrate --backend vulkan-radv

      vtt calibrate --backend rocm --since b7000 --csv strix_halo_calibration.csv --json

      vtt calibrate --list

      vtt calibrate --use strix-halo-128--vulkan-radv--20260101T000000Z

      vtt calibrate --quick --hardware h200-141 --backend vulkan-nvidia --prior-hardware h100-sxm-80
    """
    from vtt.calibration import list_calibrations
    from vtt.calibrate.rows import parse_build
    from vtt.errors import BadQuery
    from vtt.specs.catalog import default_world

    world = default_world()
    if label is not None:
        safe_name("label", label)
    if use or remove:
        return _use_or_remove(world, use, remove, json_out)
    if list_:
        items = list_calibrations(world.roots, hardware, backend)
        if json_out:
            for i in items:
                print(json.dumps(i))
        else:
            for i in items:
                print(f"{i['id']:52s} {i['origin']:8s} {i['backend']:14s} n={i['n_points']:<5d} builds {i['builds'] or '-'}")
        return
    if backend is None:
        raise BadQuery("give --backend", hint="one of: " + ", ".join(sorted(world.backends)))
    be = world.get_backend(backend)
    if quick:
        import tempfile

        from vtt.calibrate.quick import run_quick

        world.get_hardware(hardware)
        out = run_quick(world, hardware, backend, ops_backend=ops_backend or ("CPU" if be.api == "cpu" else "Vulkan0"),
                        model_dir=model_dir or tempfile.mkdtemp(prefix="vtt-quick-"), db=db, prior_id=prior,
                        prior_hardware=prior_hardware, label=label, models=quick_model,
                        on_step=None if json_out else (lambda m: print(f"  {m}")))
        cal = out["calibration"]
        if json_out:
            print(json.dumps(out))
        else:
            print(f"calibration {cal['id']}: {cal['n_points']} rows in {out['bench_s']:.0f} s of bench time, "
                  f"builds {cal['builds'] or '-'}, prior {cal['residual_stats']['prior']}")
            print(f"  vtt plan now uses {out['yaml']}")
        return
    since_n = None
    if since is not None:
        since_n = parse_build(since if str(since).startswith("b") else f"b{since}")
        if since_n is None:
            raise BadQuery(f"bad --since: '{since}' is not a llama.cpp build number", hint="example: --since b7000")
    from vtt.calibrate.pipeline import run_calibrate

    out = run_calibrate(world, hardware, backend, db=db, csv=csv, label=label, since=since_n,
                        check=_guard(_current(world, hardware, backend), force))
    cal = out["calibration"]
    if json_out:
        print(json.dumps(out))
        return
    st = cal["residual_stats"] or {}
    print(f"calibration {cal['id']}: {cal['n_points']} rows, builds {cal['builds'] or '-'}")
    for scope in ("in_sample", "leave_family_out"):
        s = st.get(scope)
        if s:
            print(f"  {scope:17s} " + "  ".join(
                f"{k} median {v['median']:.1f}% p90 {v['p90']:.1f}%" for k, v in s.items() if v["n"]))
    print(f"  sigma (log) {cal['sigma_log']}")
    if out["saved_to_store"] is not None:
        print(f"  saved to the store as calibration {out['saved_to_store']}")
    print(f"  vtt plan now uses {out['yaml']}")


def _use_or_remove(world, use: str | None, remove: str | None, json_out: bool) -> None:
    from datetime import datetime, timezone

    from vtt.calibration import (list_calibrations, load_calibration_file, user_calibration_dir,
                                           write_calibration_yaml)
    from vtt.errors import BadQuery, UnknownName

    if use and remove:
        raise BadQuery("give --use or --remove, not both")
    cal_id = safe_name("calibration id", use or remove)
    known = {i["id"]: i for i in list_calibrations(world.roots)}
    if cal_id not in known:
        raise UnknownName(f"unknown calibration '{cal_id}'", hint="list them with: vtt calibrate --list")
    if remove:
        files = _user_file(cal_id)
        if not files:
            raise BadQuery(f"calibration '{cal_id}' is shipped with vtt, not yours: it cannot be removed",
                           hint="make another one current with --use ID")
        for f in files:
            f.unlink()
        msg = {"removed": cal_id, "files": [str(f) for f in files]}
    else:
        info = known[cal_id]
        cal = load_calibration_file(info["path"])
        # vtt plan takes the newest user file of hardware x backend (names sort by time): a copy under a new
        # time stamp makes this one current, its id unchanged
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        folder = user_calibration_dir() / safe_name("hardware", cal.hardware) / safe_name("backend", cal.backend)
        name = f"{cal.hardware}--{cal.backend}--{stamp}--use.yaml"
        newest = max((p.name for p in folder.glob("*.yaml")), default="") if folder.is_dir() else ""
        if name <= newest:      # one made this second sorts later: sort after it ('~' follows '.')
            name = newest.removesuffix(".yaml") + "~use.yaml"
        path = write_calibration_yaml(cal, folder / name)
        msg = {"using": cal_id, "hardware": cal.hardware, "backend": cal.backend, "file": str(path)}
    print(json.dumps(msg) if json_out else "; ".join(f"{k} {v}" for k, v in msg.items()))
