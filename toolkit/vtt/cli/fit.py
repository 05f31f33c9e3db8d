"""`vtt fit`: the largest context, or the best quant, that fits the memory budget; or which models of the
catalog serve a request of N tokens, fastest first."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer


def fit(
    model: Annotated[Optional[str], typer.Argument(help="catalog id or alias (not needed with --catalog)")] = None,
    budget_gib: Annotated[Optional[float], typer.Option("--budget-gib", help="GPU-addressable GiB (default: this machine's GTT/TTM limit when vtt runs on the hardware, else the spec's)")] = None,
    quant: Annotated[Optional[str], typer.Option("--quant", "-q", help="file type whose largest context is wanted")] = None,
    best_quant: Annotated[bool, typer.Option("--best-quant", help="the quant keeping the most quality that fits --context")] = False,
    context: Annotated[int, typer.Option("--context", "-c", help="context the quant must hold (with --best-quant)")] = 32768,
    request_tokens: Annotated[Optional[int], typer.Option("--request-tokens", help="prompt tokens of one request (with --catalog)")] = None,
    output_tokens: Annotated[int, typer.Option("--output-tokens", help="output tokens of that request")] = 512,
    catalog: Annotated[bool, typer.Option("--catalog", help="every catalog model that serves the request, fastest first")] = False,
    hardware: Annotated[str, typer.Option("--hardware", help="hardware spec id")] = "strix-halo-128",
    kv_type: Annotated[str, typer.Option("--kv-type", help="KV cache type: f16, q8_0, q4_0 ...")] = "f16",
    json_out: Annotated[bool, typer.Option("--json", help="the answer as JSON")] = False,
):
    """What fits the budget: the largest context of MODEL at --quant, the best quant for --context
    (--best-quant), or with --catalog --request-tokens N every model that serves the request, sorted by
    end-to-end seconds (prefill of N tokens, then the output at depth N).

    The budget is the one `vtt plan` checks against: the GPU-addressable memory less the hardware's reserve.

    Examples:

      vtt fit glm-4.7-flash --quant Q8_0

      vtt fit qwen3-next-80b-a3b --best-quant --context 131072 --budget-gib 96

      vtt fit --catalog --request-tokens 150000
    """
    from vtt.errors import BadQuery
    from vtt.fit import fit_best_quant, fit_context, serve_request
    from vtt.budget import resolve_budget
    from vtt.optimize.price import Pricer
    from vtt.plan import resolve_model
    from vtt.specs.catalog import default_world
    from vtt.specs.runtime import KV_TYPE_BYTES

    if budget_gib is not None and not (0 < budget_gib < 1e6):
        raise BadQuery(f"bad budget-gib: must be > 0 (got {budget_gib:g})")
    if kv_type not in KV_TYPE_BYTES:
        raise BadQuery(f"unknown KV cache type '{kv_type}' (one of {', '.join(KV_TYPE_BYTES)})")
    if quant and best_quant:
        raise BadQuery("give --quant or --best-quant, not both")
    world = default_world()
    hw = world.get_hardware(hardware)
    gpu_gib, source = resolve_budget(hw, budget_gib)
    budget = min(gpu_gib, hw.memory_gib) - hw.reserve_gib
    pricer = Pricer(world, hw.id)
    head = {"hardware": hw.id, "budget_gib": round(budget, 3), "budget_source": source,
            "reserve_gib": hw.reserve_gib, "kv_type": kv_type}
    if catalog:
        if not request_tokens or request_tokens <= 0 or request_tokens > 10_000_000:
            raise BadQuery("--catalog needs --request-tokens N (1 to 10,000,000)")
        if output_tokens < 0:
            raise BadQuery(f"bad output-tokens: must be >= 0 (got {output_tokens})")
        cands = []
        for a in world.models.values():
            q = a.files[0].quant if a.files else "Q4_K_M"
            for qq in dict.fromkeys([q, "Q4_K_M"]):
                cands.append(resolve_model(world, a.id, qq, None))
        rows = serve_request(pricer, cands, budget, request_tokens, output_tokens, kv_type)
        ans = {**head, "request_tokens": request_tokens, "output_tokens": output_tokens, "models": rows}
        if json_out:
            print(json.dumps(ans, indent=1))
            return
        ok = [r for r in rows if r["fits"]]
        print(f"{len(ok)} of {len(rows)} model-quants serve {request_tokens} + {output_tokens} tokens within "
              f"{budget:.1f} GiB ({source}), fastest first:")
        for r in ok:
            print(f"  {r['model']:<32} {r['quant']:<8} {r['e2e_s']:>9.1f} s  (first token {r['ttft_s']:.1f} s, "
                  f"{r['tg_tps']:.1f} t/s, {r['total_gib']:.1f} GiB)")
        return
    if not model:
        raise BadQuery("give a MODEL, or --catalog --request-tokens N")
    arch = world.model(model)
    if best_quant:
        if not (0 < context <= 10_000_000):
            raise BadQuery(f"bad context: must be 1 to 10,000,000 (got {context})")
        from vtt.optimize.candidates import quality_data
        from vtt.optimize.inputs import load_inputs
        from vtt.optimize.quality import quant_factor

        _, _, pol = load_inputs(None, None, world)
        qd = quality_data(world, pol)
        names = list(dict.fromkeys([f.quant for f in arch.files] + list(pol.standard_quants) + ["Q4_K_S", "Q3_K_S", "Q2_K"]))
        cands = [resolve_model(world, arch.id, q, None) for q in names if world.find_quant(q) is not None]
        ans = {**head, **fit_best_quant(pricer, cands, budget, context, kv_type,
                                        lambda rm: quant_factor(qd, world, rm.quant_label))}
        if json_out:
            print(json.dumps(ans, indent=1))
            return
        b = ans["best"]
        if b is None:
            print(f"no quant of {arch.id} holds {context} tokens within {budget:.1f} GiB ({source})")
        else:
            print(f"{arch.id}: {b['quant']} at {context} tokens, {b['total_gib']:.1f} of {budget:.1f} GiB "
                  f"({source}); quality kept {b['quality_note']}")
        return
    rm = resolve_model(world, arch.id, quant, None)
    ans = {**head, **fit_context(pricer, rm, budget, kv_type)}
    if json_out:
        print(json.dumps(ans, indent=1))
        return
    if not ans["fits"]:
        print(f"{rm.model_label} {rm.quant_label} does not fit {budget:.1f} GiB ({source}) at any context")
    else:
        print(f"{rm.model_label} {rm.quant_label}: largest context {ans['context']} ({ans['total_gib']:.1f} of "
              f"{budget:.1f} GiB, {source}); limited by the {ans['limited_by']}")
