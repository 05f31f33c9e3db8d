"""`vtt optimize`: assign a model to every editor mode, grouped into resident sets within the budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer


def load_inputs(policies: Optional[list[Path]], editors: Optional[str]):
    """(world, editor modes, merged policy): shared by optimize and check."""
    from vtt.errors import BadQuery
    from vtt.specs.catalog import default_world
    from vtt.specs.mode import load_modes
    from vtt.specs.policy import load_policies

    world = default_world()
    eds = load_modes(world.roots)
    if editors:
        want = [e.strip().lower() for e in editors.split(",") if e.strip()]
        bad = [e for e in want if e not in eds]
        if bad:
            raise BadQuery(f"unknown editor '{bad[0]}': use {', '.join(eds)}")
        eds = {e: eds[e] for e in want}
    paths = list(policies) if policies else [r / "policies" for r in world.roots if (r / "policies").is_dir()]
    return world, eds, load_policies(paths, world)


def render_optimize(plan: dict) -> None:
    heads = ["editor", "mode", "model", "quant", "ctx", "pp t/s", "tg t/s", "TTFT s", "set", "runner-up lost on"]
    rows = [[a["editor"], a["mode"], a["model"], a["quant"], str(a["context"]), f"{a['pp_tps']:.0f}",
             f"{a['tg_tps']:.1f}", f"{a['ttft_s']:.1f}", a["resident_set"],
             (a["runner_up"] or {}).get("lost_on", "-")[:90]] for a in plan["assignments"]]
    sets = "\n".join(f"{s['id']}: {s['total_gib']:.1f} GiB = " + " + ".join(
        f"{m['model']}/{m['quant']}@{m['context']} ({m['total_gib']:.1f})" for m in s["models"]) for s in plan["resident_sets"])
    foot = (f"budget {plan['budget_gib']:.1f} GiB for models ({plan['budget_requested_gib']:g} requested, "
            f"{plan['kept_free_gib']:g} kept free); objective {plan['objective']:.4f}\n{sets}")
    for sw in plan["swaps"]:
        foot += f"\nswap {sw['between'][0]} <-> {sw['between'][1]}: {sw['seconds']:.0f} s, {sw['switches_per_hour']:g}/h"
    from vtt.cli.render import print_table

    print_table(heads, rows, foot)


def optimize(
    hardware: Annotated[str, typer.Option("--hardware", help="hardware id (vtt catalog hardware)")] = "strix-halo-128",
    budget_gib: Annotated[Optional[float], typer.Option("--budget-gib", help="memory for models and kept-free work (default: GPU-addressable)")] = None,
    editors: Annotated[Optional[str], typer.Option("--editors", help="comma list: roo,cursor,claude-code")] = None,
    policies: Annotated[Optional[list[Path]], typer.Option("--policies", help="policy file or directory (repeatable)")] = None,
    models: Annotated[Optional[str], typer.Option("--models", help="comma list of model ids to consider")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="the plan as JSON")] = False,
    export: Annotated[Optional[str], typer.Option("--export", help="llama-swap, roo or claude-code")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="write the export (or plan) here")] = None,
):
    """Pick a model, quant and context for every editor mode, and which models stay loaded together.

    Example: vtt optimize --budget-gib 64 --editors roo --export llama-swap --out llama-swap.yaml
    """
    from vtt.errors import BadQuery
    from vtt.optimize.assign import optimize as run

    if budget_gib is not None and budget_gib <= 0:
        raise BadQuery(f"bad budget-gib: must be > 0 (got {budget_gib:g})")
    world, eds, pol = load_inputs(policies, editors)
    ids = [m.strip() for m in models.split(",") if m.strip()] if models else None
    plan = run(world, eds, pol, hardware=hardware, budget_gib=budget_gib, model_ids=ids)
    if export:
        from vtt.optimize.export import export as do_export

        text, _ = do_export(plan, export)
        if out:
            out.write_text(text, encoding="utf-8")
        else:
            print(text)
        if not json_out:
            return
    if json_out:
        text = json.dumps(plan, indent=1)
        if out and not export:
            out.write_text(text, encoding="utf-8")
        else:
            print(text)
        return
    render_optimize(plan)
