"""Why each mode got its model, the runner-up and what it lost on; infeasibility reasons."""

from __future__ import annotations

import math

from vtt.optimize.candidates import Catalogue


def _fmt_speed(cat: Catalogue, d: int, j: int) -> str:
    sp = cat.speeds
    return f"{sp['tg_tps'][d, j]:.1f} t/s, first token {sp['ttft_s'][d, j]:.1f} s"


def _quality(cat: Catalogue, j: int) -> str:
    q = cat.problem.quality[j]
    return "no sourced score (quality counted as 0)" if math.isnan(q) else f"quality {q * 100:.1f}"


def why(cat: Catalogue, d: int, j: int, shared_with: list[str]) -> str:
    p = cat.problem
    md = p.modes[d]
    s = (f"{cat.pair_label[j]}: best {md.w_quality:.0%} quality / {md.w_speed:.0%} speed value among candidates "
         f"that meet {md.key}'s needs ({md.min_context} ctx, >= {md.min_tg_tps:g} t/s, <= {md.max_ttft_s:g} s); "
         f"{_quality(cat, j)}, {_fmt_speed(cat, d, j)}")
    if shared_with:
        s += f"; resident with {', '.join(shared_with)}"
    return s


def _plan_reason(cat: Catalogue, d: int, j: int, beside: list[tuple[int, float]]) -> str:
    """Why pair j, better alone for mode d, is not in the plan: the rule it would break beside the models
    resident with the winner (beside: (model index, GiB) of the set's other models)."""
    p = cat.problem
    m = int(p.pair_model[j])
    mems = [float(p.srv_mem[k]) for k in range(len(p.srv_pair))
            if p.srv_pair[k] == j and p.srv_ctx[k] >= p.modes[d].min_context]
    never = {frozenset(ab) for ab in p.never}
    for mb, _ in beside:
        if frozenset((m, mb)) in never:
            return (f"higher value alone, but a policy says never to run {p.models[m]} together with "
                    f"{p.models[mb]}, which this resident set holds")
    if mems:
        others = sum(g for mb, g in beside if mb != m)
        need = min(mems) + others
        if need > p.budget_gib + 1e-9:
            return (f"higher value alone, but {min(mems):.1f} GiB at {p.modes[d].min_context} tokens beside "
                    f"{others:.1f} GiB already resident is {need:.1f} GiB, over the {p.budget_gib:.1f} GiB budget")
    return ("higher value alone, but worse for the whole plan: it would need another resident set and the "
            "swaps that set causes with the modes used together with this one")


def runner_up(cat: Catalogue, d: int, j_win: int, beside: list[tuple[int, float]] | None = None) -> dict | None:
    """The best other model for this mode by its own value, and what it lost on."""
    p = cat.problem
    win_m = p.pair_model[j_win]
    best = None
    for j in range(len(p.pair_quant)):
        if p.pair_model[j] == win_m:
            continue
        if best is None or p.value[d, j] > p.value[d, best]:
            best = j
    if best is None:
        return None
    reasons = cat.reasons.get((d, best))
    if reasons:
        lost = "; ".join(reasons)
    elif p.value[d, best] <= p.value[d, j_win]:
        lost = (f"lower value {p.value[d, best]:.4f} vs {p.value[d, j_win]:.4f} "
                f"({_quality(cat, best)}, {_fmt_speed(cat, d, best)})")
    else:
        lost = _plan_reason(cat, d, best, beside or [])
    return {"model": cat.problem.models[p.pair_model[best]], "quant": p.pair_quant[best],
            "lost_on": f"{cat.pair_label[best]}: {lost}"}


def diagnose_infeasible(cat: Catalogue) -> list[str]:
    """Per mode with no usable candidate: the reasons of its closest candidates."""
    p = cat.problem
    out = []
    for d, md in enumerate(p.modes):
        if any(p.serves(d, k) for k in range(len(p.srv_pair))):
            continue
        order = sorted(range(len(p.pair_quant)), key=lambda j: (len(cat.reasons.get((d, j), [])), -p.value[d, j]))[:3]
        detail = "; ".join(f"{cat.pair_label[j]}: {', '.join(cat.reasons.get((d, j), ['no server fits']))}"
                           for j in order)
        out.append(f"{md.key}: no candidate meets its needs ({detail})")
    return out
