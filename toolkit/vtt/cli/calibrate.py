"""`vtt calibrate`: fit the speed model to measured llama-bench rows; `vtt plan` then uses it."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer


def calibrate(
    hardware: Annotated[str, typer.Option("--hardware", help="hardware spec id")] = "strix-halo-128",
    backend: Annotated[Optional[str], typer.Option("--backend", help="vulkan-radv, vulkan-amdvlk, rocm ...")] = None,
    db: Annotated[Optional[str], typer.Option("--db", help="DuckDB file (default: $XDG_DATA_HOME/vtt/vtt.duckdb)")] = None,
    csv: Annotated[Optional[str], typer.Option("--csv", help="fit rows of a CSV in the public calibration schema instead of the store")] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="only results of runs with this label")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="only llama.cpp builds from this one on (b7000 or 7000)")] = None,
    list_: Annotated[bool, typer.Option("--list", help="list the calibrations vtt can use, newest first")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="measure the designed quick set here (operators + 10 llama-bench rows, <= 10 min) and fit from it")] = False,
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
    leave-one-model-family-out residuals.

    Examples:

      vtt calibrate --backend vulkan-radv

      vtt calibrate --backend rocm --since b7000 --csv strix_halo_calibration.csv --json

      vtt calibrate --list

      vtt calibrate --quick --hardware h200-141 --backend vulkan-nvidia --prior-hardware h100-sxm-80
    """
    from vtt.calibrate.calibration import list_calibrations
    from vtt.calibrate.rows import parse_build
    from vtt.errors import BadQuery
    from vtt.specs.catalog import default_world

    world = default_world()
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

    out = run_calibrate(world, hardware, backend, db=db, csv=csv, label=label, since=since_n)
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
