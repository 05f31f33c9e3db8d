"""`--fit`, like llama.cpp's: the largest context, or the best quant, that fits a memory budget; and which
models of the catalog serve a request of N tokens, fastest first.

Pure: the memory and speed numbers come from a pricer (vtt.optimize.price.Pricer, the cost model over
arrays) passed in; the budget is passed in too (vtt.budget.resolve_budget reads it from the machine).
"""

from __future__ import annotations

import numpy as np

CTX_STEP = 256          # llama.cpp pads the KV cache to 256 cells (llama-context.cpp, n_ctx_pad)
MIN_CONTEXT = 4096      # llama.cpp's -fit floor (`-fitc`, default 4096: editors_and_exports.md section 2)


def largest_context(mem_gib, n_ctx_train: int, budget_gib: float, step: int = CTX_STEP) -> tuple[int, float]:
    """(largest context <= n_ctx_train that fits, its GiB), or (0, GiB at the smallest) when none does.
    `mem_gib(contexts) -> GiB array` is evaluated once on the whole grid (memory grows with context)."""
    grid = np.arange(step, max(n_ctx_train, step) + 1, step, dtype=np.int64)
    if grid[-1] != n_ctx_train and n_ctx_train > step:
        grid = np.append(grid, n_ctx_train)
    gib = np.asarray(mem_gib(grid.tolist()), dtype=float)
    ok = np.nonzero(gib <= budget_gib + 1e-9)[0]
    if len(ok) == 0:
        return 0, float(gib[0])
    i = int(ok[-1])
    return int(grid[i]), float(gib[i])


def fit_context(pricer, rm, budget_gib: float, kv: str) -> dict:
    ctx, gib = largest_context(lambda c: pricer.memory_gib(rm, c, kv), rm.arch.n_ctx_train, budget_gib)
    limited = "nothing fits" if ctx == 0 else ("trained context" if ctx >= rm.arch.n_ctx_train else "budget")
    return {"model": rm.model_label, "quant": rm.quant_label, "context": ctx, "total_gib": round(gib, 3),
            "budget_gib": round(budget_gib, 3), "fits": ctx > 0, "n_ctx_train": rm.arch.n_ctx_train,
            "limited_by": limited, "below_fit_floor": 0 < ctx < MIN_CONTEXT}


def fit_best_quant(pricer, candidates: list, budget_gib: float, context: int, kv: str,
                   quality_of) -> dict:
    """The quant that keeps the most quality (`quality_of(rm) -> (factor, note)`) and fits `context`.
    candidates: resolved models of one architecture at different quants."""
    rows = []
    for rm in candidates:
        gib = float(pricer.memory_gib(rm, [context], kv)[0])
        f, note = quality_of(rm)
        rows.append({"quant": rm.quant_label, "total_gib": round(gib, 3), "fits": gib <= budget_gib + 1e-9,
                     "quality_kept": round(f, 4), "quality_note": note})
    rows.sort(key=lambda r: (-r["quality_kept"], r["total_gib"]))
    best = next((r for r in rows if r["fits"]), None)
    return {"model": candidates[0].model_label if candidates else None, "context": context,
            "budget_gib": round(budget_gib, 3), "best": best, "quants": rows}


def serve_request(pricer, candidates: list, budget_gib: float, request_tokens: int, output_tokens: int,
                  kv: str) -> list[dict]:
    """Every (model, quant) that fits a request of `request_tokens` prompt tokens plus `output_tokens`, with
    end-to-end seconds (prefill of the prompt from an empty cache, then generation at depth = prompt),
    sorted fastest first. Those that do not fit or cannot hold the request are left out of the ranking but
    returned with their reason."""
    ctx = int(request_tokens + output_tokens)
    ctx = -(-ctx // CTX_STEP) * CTX_STEP
    out = []
    for rm in candidates:
        if ctx > rm.arch.n_ctx_train:
            out.append({"model": rm.model_label, "quant": rm.quant_label, "fits": False,
                        "reason": f"trained context {rm.arch.n_ctx_train} < {ctx}"})
            continue
        gib = float(pricer.memory_gib(rm, [ctx], kv)[0])
        if gib > budget_gib + 1e-9:
            out.append({"model": rm.model_label, "quant": rm.quant_label, "fits": False, "total_gib": round(gib, 2),
                        "reason": f"{gib:.1f} GiB over the {budget_gib:.1f} GiB budget"})
            continue
        pp, tg, ttft, gen = pricer.request(rm, [0], [request_tokens], [output_tokens], kv)
        out.append({"model": rm.model_label, "quant": rm.quant_label, "fits": True, "context": ctx,
                    "total_gib": round(gib, 2), "ttft_s": round(float(ttft[0]), 3), "gen_s": round(float(gen[0]), 3),
                    "e2e_s": round(float(ttft[0] + gen[0]), 3), "tg_tps": round(float(tg[0]), 2)})
    return sorted(out, key=lambda r: (not r["fits"], r.get("e2e_s", float("inf")), r["model"]))
