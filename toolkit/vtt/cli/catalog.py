"""`vtt catalog`: the models, quants, hardware and backends vtt knows."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer


def catalog(
    what: Annotated[str, typer.Argument(help="models, quants, hardware, backends, runtimes, modes or coverage")] = "models",
    search: Annotated[Optional[str], typer.Option("--search", "-s", help="only entries whose id or alias contains this")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
    hardware: Annotated[Optional[str], typer.Option("--hardware", help="coverage: only this hardware id")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="coverage: only this backend id")] = None,
):
    """List what vtt knows. Example: vtt catalog models --search qwen3"""
    from vtt.errors import BadQuery
    from vtt.specs.catalog import default_world, norm

    w = default_world()
    if what == "modes":
        _modes(w, search, json_out)
        return
    if what == "coverage":
        return _coverage(w, search, json_out, hardware, backend)
    table = {"models": w.models, "quants": w.quants, "hardware": w.hardware, "backends": w.backends,
             "runtimes": w.runtimes}.get(what)
    if table is None:
        raise BadQuery(f"unknown catalog section '{what}': use models, quants, hardware, backends, runtimes or modes")
    items = list(table.values())
    if search:
        s = norm(search)
        items = [i for i in items if s in norm(i.id) or any(s in norm(a) for a in getattr(i, "aliases", []))]
    for i in items:
        if json_out:
            print(json.dumps(i.model_dump(mode="json", exclude={"sources"})))
        elif what == "models":
            print(f"{i.id:32s} {i.arch:14s} {i.kind:7s} {i.params_total_b or 0:7.1f}B  ctx {i.n_ctx_train:>7d}  {', '.join(i.aliases[:3])}")
        elif what == "quants":
            print(f"{i.id:12s} base {i.base:8s} family {i.family:7s} {', '.join(i.aliases)}")
        elif what == "runtimes":
            print(f"{i.id:20s} {i.name:45s} {i.flags or ''}")
        else:
            print(f"{i.id:20s} {i.name}")


def _modes(w, search: str | None, json_out: bool) -> None:
    """Editor modes and their typical request (the preset `vtt plan --mode EDITOR/MODE` uses)."""
    from vtt.specs.mode import load_modes

    for editor, em in sorted(load_modes(list(w.roots)).items()):
        for m in em.modes:
            ref = f"{editor}/{m.id}"
            if search and search.lower() not in ref.lower():
                continue
            r = m.request
            if json_out:
                print(json.dumps({"mode": ref, "name": m.name, "cached_tokens": r.depth, "prompt_tokens": r.n_prompt,
                                  "output_tokens": r.n_gen, "min_context": m.needs.min_context,
                                  "min_tg_tps": m.needs.min_tg_tps, "max_ttft_s": m.needs.max_ttft_s}))
            else:
                print(f"{ref:24s} cached {r.depth:>6d}  prompt {r.n_prompt:>5d}  output {r.n_gen:>5d}  "
                      f"min ctx {m.needs.min_context:>6d}  {m.name}")


def _coverage(world, search, json_out, hardware=None, backend=None) -> None:
    """The (hardware, backend, FA path, head width, GQA, attention kind, depth band, build) cells the
    visible calibrations' rows cover: a query outside them is answered as extrapolated."""
    from vtt.calibration import list_calibrations, load_calibration_file

    from pathlib import Path

    seen = set()
    for c in list_calibrations(world.roots):
        if (c["hardware"], c["backend"]) in seen or (search and search not in f"{c['hardware']} {c['backend']}"):
            continue
        if (hardware and c["hardware"] != hardware) or (backend and c["backend"] != backend):
            continue
        seen.add((c["hardware"], c["backend"]))  # the newest one is what vtt plan uses
        cal = load_calibration_file(Path(c["path"]))
        for cell in cal.coverage or []:
            row = {"hardware": cal.hardware, "backend": cal.backend, **cell, "builds": cal.builds, "calibration": cal.id,
                   "archs": cal.archs}
            if json_out:
                print(json.dumps(row))
            else:
                print(f"{cal.hardware:16s} {cal.backend:14s} {cell['test']:2s} {cell['path']:9s} hd {cell['head_width']:>4d} "
                      f"gqa {cell['gqa']:>5g} {cell['kind']:11s} {cell['depth_band']:10s} "
                      f"to {cell['max_depth'] if 'max_depth' in cell else '-':>6} n {cell['n']:>4d}  {cal.builds or '-'}")
        if cal.archs and not json_out:  # an answer for another architecture says so (vtt.cost.coverage)
            print(f"{cal.hardware:16s} {cal.backend:14s} architectures: "
                  + "; ".join(f"{t} {', '.join(cal.archs.get(t, [])) or '-'}" for t in ("pp", "tg")))
        for curve in cal.attn_depth or []:  # shapes whose prompts at depth follow a measured rate (vtt.cost.depth_curve)
            if json_out:
                print(json.dumps({"hardware": cal.hardware, "backend": cal.backend, "depth_curve": curve,
                                  "calibration": cal.id}))
            else:
                print(f"{cal.hardware:16s} {cal.backend:14s} depth curve {curve['geometry']}: "
                      + ", ".join(f"{k} x{v:g}" for k, v in zip(curve["n_kv"], curve["slowdown"])))
