"""`vtt optimize`: assign a model to every editor mode, grouped into resident sets within the budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer


def render_optimize(plan: dict) -> None:
    heads = ["editor", "mode", "model", "quant", "ctx", "quality", "TTFT s", "tg t/s", "e2e s", "set", "binding"]
    rows = [[a["editor"], a["mode"], a["model"], a["quant"], str(a["context"]),
             f"{a['quality'] * 100:.0f}{' prior' if a['quality_kind'] == 'prior' else ''}",
             f"{a['ttft_s']:.1f}", f"{a['tg_tps']:.1f}", f"{a['e2e_s']:.1f}",
             a["resident_set"] + (f" x{a['split']['boxes']}" if a.get("split") else ""),
             a["binding"][:90]] for a in plan["assignments"]]
    sets = "\n".join(f"{s['id']}: {s['total_gib']:.1f} GiB = " + " + ".join(
        f"{m['model']}/{m['quant']}@{m['context']} ({m['total_gib']:.1f})" for m in s["models"]) for s in plan["resident_sets"])
    foot = (f"budget {plan['budget_gib']:.1f} GiB for models ({plan['budget_requested_gib']:g} from "
            f"{plan['budget_source']}, {plan['kept_free_gib']:g} kept free); objective {plan['objective']:.4f}\n{sets}")
    cl = plan.get("cluster")
    if cl:
        foot += (f"\ncluster {cl['id']} on {cl['link']}: budget per box " + ", ".join(
            f"{b['name']} {b['budget_gib']:.1f} GiB" for b in cl["boxes"]) + "; 'set xN': the model runs split over N boxes")
        for s in plan["resident_sets"]:
            foot += f"\n{s['id']} per box: " + ", ".join(f"{g:.1f}" for g in s["box_gib"]) + " GiB"
    if any(a["quality_kind"] == "prior" for a in plan["assignments"]):
        foot += "\nquality 'prior': no published coding score; a wide prior from family and size (specs/quality/prior.yaml)"
    for sw in plan["swaps"]:
        foot += f"\nswap {sw['between'][0]} <-> {sw['between'][1]}: {sw['seconds']:.0f} s, {sw['switches_per_hour']:g}/h"
    from vtt.cli.render import print_table

    print_table(heads, rows, foot)


def optimize(
    hardware: Annotated[Optional[str], typer.Option("--hardware", help="hardware id (vtt catalog hardware; default strix-halo-128, or the cluster's main box)")] = None,
    cluster: Annotated[Optional[str], typer.Option("--cluster", help="a cluster spec (specs/clusters): models may also run split across its boxes (llama.cpp RPC); the budget is per box")] = None,
    boxes: Annotated[Optional[int], typer.Option("--boxes", help="N identical boxes of --hardware joined by --link: models may also run split across them")] = None,
    link: Annotated[Optional[str], typer.Option("--link", help="the link between --boxes (specs/links; default 10gbe)")] = None,
    budget_gib: Annotated[Optional[float], typer.Option("--budget-gib", help="GPU-addressable GiB for models and kept-free work (default: this machine's GTT/TTM limit when vtt runs on the hardware, else the spec's)")] = None,
    editors: Annotated[Optional[str], typer.Option("--editors", help="comma list: roo,cursor,claude-code")] = None,
    policies: Annotated[Optional[list[Path]], typer.Option("--policies", help="policy file or directory (repeatable)")] = None,
    models: Annotated[Optional[str], typer.Option("--models", help="comma list of model ids to consider")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="the plan as JSON")] = False,
    export: Annotated[Optional[str], typer.Option("--export", help="llama-swap, roo, claude-code or cursor")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="write the export (or plan) here")] = None,
    models_dir: Annotated[Optional[Path], typer.Option("--models-dir", help="folder of your GGUF files: llama-swap paths come from a scan of it")] = None,
    llama_cpp_build: Annotated[str, typer.Option("--llama-cpp-build", help="llama.cpp build whose llama-server flags the export uses")] = "0c1e570",
    llama_swap_version: Annotated[int, typer.Option("--llama-swap-version", help="llama-swap version the export targets (107 or newer)")] = 250,
    llama_server: Annotated[str, typer.Option("--llama-server", help="llama-server command in the llama-swap export")] = "llama-server",
):
    """Pick a model, quant and context for every editor mode, and which models stay loaded together.

    Times are request-level: the first token after the mode's new prompt tokens are prefilled at its cached
    depth, generation after the prompt. Each mode's `binding` names the constraint that decided it, and
    `rejected` what every other model lacked. Quality marked `prior` has no published score.

    With --cluster ID or --boxes N [--link ID], a model may also run split across the boxes; its times pay
    the network, and `why` says so (boxes, link, ms per token, the one-box speed it gives up).

    Example: vtt optimize --budget-gib 64 --editors roo --export llama-swap --models-dir ~/models --out llama-swap.yaml
    """
    import sys

    from vtt.errors import BadQuery
    from vtt.optimize import optimize as run

    if budget_gib is not None and not (0 < budget_gib < 1e6):     # also refuses nan and inf
        raise BadQuery(f"bad budget-gib: must be > 0 and finite (got {budget_gib:g})")
    ids = [m.strip() for m in models.split(",") if m.strip()] if models else None
    plan = run(hardware=hardware, budget_gib=budget_gib, editors=editors, policies=policies, models=ids,
               cluster=cluster, boxes=boxes, link=link).to_json()
    if export:
        from vtt.optimize.export import Target
        from vtt.optimize.export import export as do_export

        target = Target(llama_cpp_build=llama_cpp_build, llama_swap_version=llama_swap_version,
                        llama_server=llama_server, models_dir=models_dir)
        ex = do_export(plan, export, target)
        if out:
            out.write_text(ex.text, encoding="utf-8")
        else:
            print(ex.text)
        for n in ex.notes:
            print(f"note: {n}", file=sys.stderr)
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
