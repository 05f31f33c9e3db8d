"""Mode -> model assignment with co-residency: candidates (priced by the cost model), an exact MILP,
explanations, plan checks and editor exports. A rejection is a record with a reason.

Library entry point: `from vtt.optimize import optimize; plan = optimize(models=[...])` returns a typed
`vtt.optimize.result.Plan`. Heavy modules (scipy, the cost model) load inside the call."""

from __future__ import annotations


def optimize(*, hardware: str | None = None, budget_gib: float | None = None, editors=None, policies=None,
             models: list[str] | None = None, world=None, cluster: str | None = None, boxes: int | None = None,
             link: str | None = None):
    """The optimal plan for the editors' modes on `hardware` (default strix-halo-128, or a cluster's main
    box) within `budget_gib` (None: read from this machine when vtt runs on it, else the hardware spec; see
    vtt.budget). With `cluster` (specs/clusters id) or `boxes` (N boxes of `hardware` on `link`, default
    10gbe) a model may also run split across the boxes (llama.cpp RPC), and the budget is per box
    (vtt.optimize.split). Raises vtt.optimize.assign.Infeasible when no plan keeps every need and policy."""
    from vtt.optimize.assign import optimize as run
    from vtt.optimize.inputs import load_inputs

    world, eds, pol = load_inputs(policies, editors, world)
    return run(world, eds, pol, hardware=hardware, budget_gib=budget_gib, model_ids=models, cluster=cluster,
               boxes=boxes, link=link)
