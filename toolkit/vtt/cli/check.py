"""`vtt check`: does a plan keep every policy and fit? Exit 0 yes, 1 no (each violation named), 2 bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer


def check(
    plan_file: Annotated[Path, typer.Argument(help="a plan written by vtt optimize --json")],
    policies: Annotated[Optional[list[Path]], typer.Option("--policies", help="policy file or directory (repeatable)")] = None,
    hardware: Annotated[Optional[str], typer.Option("--hardware", help="hardware id (default: the plan's)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="the verdict as JSON")] = False,
):
    """Check a plan against the policies, recomputing each resident set's memory with the cost model.

    Example: vtt check plan.json --policies specs/policies
    """
    from vtt.optimize.inputs import load_inputs
    from vtt.optimize.check import PlanViolated, check_plan, read_plan

    world, eds, pol = load_inputs(policies, None)
    plan = read_plan(plan_file)
    verdict = check_plan(plan, world, pol, eds, hardware=hardware or plan.hardware or "strix-halo-128")
    if json_out:
        print(json.dumps(verdict, indent=1))
    else:
        for n in verdict["notes"]:
            print(f"note: {n}")
        for v in verdict["violations"]:
            print(f"violation: {v}")
        if verdict["ok"]:
            print(f"ok: {len(plan.resident_sets)} resident sets within {verdict['budget_gib']:.1f} GiB, every policy kept")
    if not verdict["ok"]:
        if json_out:
            raise typer.Exit(1)
        raise PlanViolated(f"{len(verdict['violations'])} violation(s) in {plan_file}")
