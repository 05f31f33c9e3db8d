"""Why each mode got its model, the runner-up and what it lost on; infeasibility reasons."""

from __future__ import annotations

from vtt.optimize.candidates import Catalogue


def _fmt_speed(cat: Catalogue, d: int, j: int) -> str:
    sp = cat.speeds
    return (f"first token {sp['ttft_s'][d, j]:.1f} s, then {sp['tg_tps'][d, j]:.1f} t/s "
            f"({sp['e2e_s'][d, j]:.1f} s for the request)")


def _quality(cat: Catalogue, j: int) -> str:
    q = cat.problem.quality[j]
    kind = cat.quality_kind[j] if cat.quality_kind else "measured"
    lo = cat.quality_lo[j] if cat.quality_lo is not None else q
    hi = cat.quality_hi[j] if cat.quality_hi is not None else q
    tag = "PRIOR " if kind == "prior" else ""
    return f"{tag}quality {q * 100:.1f} [{lo * 100:.0f}-{hi * 100:.0f}]"


def _kind_of(reason: str) -> str:
    if "pinned" in reason:
        return "pin"
    if "t/s" in reason:
        return "generation speed"
    if "first token" in reason:
        return "time to first token"
    if "context at most" in reason:
        return "context"
    if "GiB" in reason:
        return "memory budget"
    if "published" in reason:
        return "quality policy"
    if "min_params_b" in reason:
        return "size policy"
    return "cost model"


def why(cat: Catalogue, d: int, j: int, shared_with: list[str], binding: str = "") -> str:
    p = cat.problem
    md = p.modes[d]
    s = (f"{cat.pair_label[j]}: best {md.w_quality:.0%} quality / {md.w_speed:.0%} speed value among candidates "
         f"that meet {md.key}'s needs ({md.min_context} ctx, >= {md.min_tg_tps:g} t/s, <= {md.max_ttft_s:g} s "
         f"for {md.n_prompt} new tokens after {md.depth} cached); {_quality(cat, j)}, {_fmt_speed(cat, d, j)}")
    sp = split_note(cat, d, j)
    if sp:
        s += f"; {sp}"
    if binding:
        s += f"; binding: {binding}"
    if shared_with:
        s += f"; resident with {', '.join(shared_with)}"
    return s


def split_note(cat: Catalogue, d: int, j: int) -> str:
    """How a split candidate runs: boxes, link, network per token, the one-box speed it gives up."""
    sp = cat.split.get(j) if cat.split else None
    if sp is None:
        return ""
    cb, j1 = cat.cluster, cat.onebox_of[j]
    tg1 = cat.speeds["tg_tps"][d, j1]
    return (f"runs split over {len(cb.box_names)} boxes ({', '.join(cb.box_names)}) on {cb.link} with llama.cpp RPC: "
            f"the network adds {sp.net_ms[d]:.2f} ms per token, {cat.speeds['tg_tps'][d, j]:.1f} t/s against "
            f"{tg1:.1f} t/s on one box were it big enough")


def _best_pair_per_model(cat: Catalogue, d: int, skip_model: int) -> list[int]:
    p = cat.problem
    best: dict[int, int] = {}
    for jj in range(len(p.pair_quant)):
        m = int(p.pair_model[jj])
        if m == skip_model:
            continue
        # the model's closest candidate: allowed first, then the fewest reasons against it, then (both ruled
        # out) its split form, whose reason says whether even the cluster is too small, then the value
        def key(x):
            return (bool(p.allowed[d, x]), -len(cat.reasons.get((d, x), [])),
                    (not p.allowed[d, x]) and x in cat.onebox_of, p.value[d, x])

        cur = best.get(m)
        if cur is None or key(jj) > key(cur):
            best[m] = jj
    return sorted(best.values(), key=lambda jj: -p.value[d, jj])


def lacked(cat: Catalogue, d: int, jj: int, j_win: int, beside: list[tuple[int, int]]) -> str:
    """What candidate jj lacked for mode d, against the winner j_win."""
    p = cat.problem
    reasons = cat.reasons.get((d, jj))
    if reasons:
        text = "; ".join(reasons)
        j2 = cat.split_of.get(jj) if cat.split_of else None
        if j2 is not None and (d, j2) in cat.reasons:      # on a cluster: what its split form lacked too
            text += f"; split over {len(cat.cluster.box_names)} boxes: " + "; ".join(cat.reasons[d, j2])
        elif jj in cat.split_errors and cat.cluster is not None:
            text += f"; cannot be split on {cat.cluster.id}: {cat.split_errors[jj]}"
        return text
    if p.value[d, jj] <= p.value[d, j_win]:
        return (f"lower value {p.value[d, jj]:.4f} vs {p.value[d, j_win]:.4f} "
                f"({_quality(cat, jj)}, {_fmt_speed(cat, d, jj)})")
    return _plan_reason(cat, d, jj, beside)


def binding(cat: Catalogue, d: int, j: int, beside: list[tuple[int, int]]) -> str:
    """The constraint that decided mode d: what stopped every candidate of higher value, or 'none'."""
    p = cat.problem
    pin = cat.policy.pins.get(p.modes[d].key) if cat.policy else None
    if pin:
        return f"pin: {p.modes[d].key} is pinned to {pin}"
    if j in cat.onebox_of:      # split: why not on the main box alone (the same model, faster)
        j1 = cat.onebox_of[j]
        if (d, j1) in cat.reasons:
            r = cat.reasons[d, j1]
            return f"{_kind_of(r[0])} (on one box: {'; '.join(r)}; it runs split)"
        if p.value[d, j1] > p.value[d, j]:
            return ("resident sets and swaps (one box would be faster, but then it would not fit beside the "
                    "models resident with it, or would cost swaps; split, it leaves room on the main box)")
    better = [jj for jj in range(len(p.pair_quant)) if p.value[d, jj] > p.value[d, j] + 1e-12
              and int(p.pair_model[jj]) != int(p.pair_model[j])]
    if not better:
        return "none: the highest value of every candidate"
    top = max(better, key=lambda jj: p.value[d, jj])
    text = lacked(cat, d, top, j, beside)
    kind = _kind_of(cat.reasons[(d, top)][0]) if (d, top) in cat.reasons else (
        "never-together policy" if "never to run" in text else "memory budget" if "GiB" in text
        else "resident sets and swaps")
    return f"{kind} ({cat.pair_label[top]}: {text})"


def rejected(cat: Catalogue, d: int, j_win: int, beside: list[tuple[int, int]]) -> list[str]:
    """Every other model's best candidate for mode d and what it lacked: nothing is excluded silently."""
    p = cat.problem
    return [f"{cat.pair_label[jj]}: {lacked(cat, d, jj, j_win, beside)}"
            for jj in _best_pair_per_model(cat, d, int(p.pair_model[j_win]))]


def _plan_reason(cat: Catalogue, d: int, j: int, beside: list[tuple[int, int]]) -> str:
    """Why pair j, better alone for mode d, is not in the plan: the rule it would break beside the models
    resident with the winner (beside: (model index, server index) of the set's other models)."""
    import numpy as np

    p = cat.problem
    m = int(p.pair_model[j])
    other = p.mem_other()
    box = np.c_[p.srv_mem, other]                                   # (K, B) GiB per box
    budgets = np.r_[p.budget_gib, p.other_budgets()]
    ks = [k for k in range(len(p.srv_pair)) if p.srv_pair[k] == j and p.srv_ctx[k] >= p.modes[d].min_context]
    never = {frozenset(ab) for ab in p.never}
    for mb, _ in beside:
        if frozenset((m, mb)) in never:
            return (f"higher value alone, but a policy says never to run {p.models[m]} together with "
                    f"{p.models[mb]}, which this resident set holds")
    if ks:
        k = min(ks, key=lambda k: box[k].sum())
        others = sum((box[kb] for mb, kb in beside if mb != m), np.zeros(box.shape[1]))
        need = box[k] + others
        b = int(np.argmax(need - budgets))
        if need[b] > budgets[b] + 1e-9:
            where = f" of {cat.cluster.box_names[b]}" if cat.cluster else ""
            return (f"higher value alone, but {box[k, b]:.1f} GiB at {p.modes[d].min_context} tokens beside "
                    f"{others[b]:.1f} GiB already resident is {need[b]:.1f} GiB, over the {budgets[b]:.1f} GiB "
                    f"budget{where}")
    return ("higher value alone, but worse for the whole plan: it would need another resident set and the "
            "swaps that set causes with the modes used together with this one")


def runner_up(cat: Catalogue, d: int, j_win: int, beside: list[tuple[int, int]] | None = None) -> dict | None:
    """The best other model for this mode by its own value, and what it lost on."""
    p = cat.problem
    others = _best_pair_per_model(cat, d, int(p.pair_model[j_win]))
    if not others:
        return None
    best = max(others, key=lambda jj: p.value[d, jj])
    return {"model": p.models[p.pair_model[best]], "quant": p.pair_quant[best],
            "lost_on": f"{cat.pair_label[best]}: {lacked(cat, d, best, j_win, beside or [])}"}


def diagnose_infeasible(cat: Catalogue) -> list[str]:
    """Per mode with no usable candidate: the reasons of its closest candidates. A pinned mode shows what
    the pinned model itself lacks (the pin is the binding rule, so the other models' reasons say nothing)."""
    p = cat.problem
    out = []
    for d, md in enumerate(p.modes):
        if any(p.serves(d, k) for k in range(len(p.srv_pair))):
            continue
        pin = cat.policy.pins.get(md.key) if cat.policy else None
        pool = list(range(len(p.pair_quant)))
        if pin:
            mine = [j for j in pool if not any("pinned" in r for r in cat.reasons.get((d, j), []))]
            pool = mine or [j for j in pool if cat.pair_label[j].split("/")[0] == pin.split("/")[0]] or pool
        order = sorted(pool, key=lambda j: (len(cat.reasons.get((d, j), [])), -p.value[d, j]))[:3]
        detail = "; ".join(f"{cat.pair_label[j]}: {', '.join(cat.reasons.get((d, j), ['no server fits']))}"
                           for j in order)
        head = f"{md.key} is pinned to {pin}, which cannot serve it" if pin else f"{md.key}: no candidate meets its needs"
        out.append(f"{head} ({detail})")
    return out
