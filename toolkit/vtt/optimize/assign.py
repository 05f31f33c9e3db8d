"""optimize(): catalogue -> MILP -> a typed Plan (`Plan.to_json()` is the contract of `vtt optimize --json`)."""

from __future__ import annotations

import numpy as np

from vtt.errors import VttError
from vtt.optimize.candidates import Catalogue, build_catalogue
from vtt.optimize.explain import binding, diagnose_infeasible, rejected, runner_up, why
from vtt.optimize.milp import solve
from vtt.optimize.result import Plan

PLAN_VERSION = 2   # 2: request-level times (gen_s, e2e_s), quality intervals and kinds, binding, rejected;
                   # cluster, split and box_gib keys added (null without a cluster)


class Infeasible(VttError):
    """No plan keeps every need and policy: the answer is no."""

    code = "infeasible"
    exit_code = 1


def server_id(model: str, quant: str) -> str:
    return f"{model}-{quant}".lower()


def optimize(world, editors, policy, *, hardware: str | None, budget_gib: float | None = None,
             model_ids: list[str] | None = None, cluster: str | None = None, boxes: int | None = None,
             link: str | None = None) -> Plan:
    cat = build_catalogue(world, editors, policy, hardware=hardware, budget_gib=budget_gib, model_ids=model_ids,
                          cluster=cluster, boxes=boxes, link=link)
    diag = diagnose_infeasible(cat)
    if diag:
        raise Infeasible("no plan: " + " | ".join(diag), hint="lower the mode's needs in a policy, raise --budget-gib or add models")
    sol = solve(cat.problem)
    if sol.status == "infeasible":
        raise Infeasible(f"no plan: {sol.reason}", hint="drop a pin or a never-together rule, or raise --budget-gib")
    return to_plan(cat, sol)


def to_plan(cat: Catalogue, sol) -> Plan:
    p = cat.problem
    set_of_server = {}
    sets = []
    other = p.mem_other()
    cb = cat.cluster
    for i, members in enumerate(sol.sets):
        sid = f"set{i + 1}"
        models = []
        box_sum = np.zeros(1 + other.shape[1])
        for k in sorted(members, key=lambda k: -(p.srv_mem[k] + other[k].sum())):
            j = int(p.srv_pair[k])
            set_of_server[k] = sid
            box_gib = np.r_[p.srv_mem[k], other[k]]
            box_sum += box_gib
            models.append({"model": p.models[p.pair_model[j]], "quant": p.pair_quant[j], "context": int(p.srv_ctx[k]),
                           "total_gib": round(float(box_gib.sum()), 3), "load_s": round(float(p.srv_load_s[k]), 1),
                           "server": server_id(p.models[p.pair_model[j]], p.pair_quant[j]),
                           "file": cat.files[j] if cat.files else None,
                           "box_gib": [round(float(x), 3) for x in box_gib] if cb else None,
                           "split": _member_split(cat, j, int(p.srv_ctx[k]))})
        sets.append({"id": sid, "models": models, "total_gib": round(sum(m["total_gib"] for m in models), 3),
                     "box_gib": [round(float(x), 3) for x in box_sum] if cb else None})
    server_of_pair = {int(p.srv_pair[k]): k for k in sol.servers}
    assignments = []
    for d, md in enumerate(p.modes):
        j = sol.mode_pair[d]
        k = server_of_pair[j]
        sid = set_of_server[k]
        others = [f"{m['model']}/{m['quant']}" for s in sets if s["id"] == sid for m in s["models"]
                  if (m["model"], m["quant"]) != (p.models[p.pair_model[j]], p.pair_quant[j])]
        beside = [(int(p.pair_model[p.srv_pair[kk]]), kk) for kk in sol.sets[int(sid[3:]) - 1]
                  if kk != k or sum(jj == j for jj in sol.mode_pair) > 1]
        sp = cat.speeds
        bind = binding(cat, d, j, beside)
        text = why(cat, d, j, others, bind)
        if cb is not None and j in cat.split:     # the co-residency rule, in this plan's numbers
            gib = np.r_[p.srv_mem[k], other[k]]
            text += ("; split, it holds " + ", ".join(f"{g:.1f} GiB on {n}" for g, n in zip(gib, cb.box_names))
                     + ", each counted against that box's budget beside the models resident with it")
        assignments.append({
            "editor": md.editor, "mode": md.mode, "model": p.models[p.pair_model[j]], "quant": p.pair_quant[j],
            "context": int(p.srv_ctx[k]), "server": server_id(p.models[p.pair_model[j]], p.pair_quant[j]),
            "pp_tps": round(float(sp["pp_tps"][d, j]), 2), "tg_tps": round(float(sp["tg_tps"][d, j]), 2),
            "ttft_s": round(float(sp["ttft_s"][d, j]), 3), "gen_s": round(float(sp["gen_s"][d, j]), 3),
            "e2e_s": round(float(sp["e2e_s"][d, j]), 3), "resident_set": sid,
            "quality": round(float(p.quality[j]), 4),
            "quality_interval": [round(float(cat.quality_lo[j]), 4), round(float(cat.quality_hi[j]), 4)],
            "quality_kind": cat.quality_kind[j],
            "quality_source": cat.quality_note[j], "value": round(float(p.value[d, j]), 5),
            "binding": bind, "why": text,
            "runner_up": runner_up(cat, d, j, beside), "rejected": rejected(cat, d, j, beside),
            "split": _mode_split(cat, d, j),
        })
    set_idx = {a["mode"] + a["editor"]: a["resident_set"] for a in assignments}
    swaps = []
    for d1, d2, rate in p.pairs:
        s1 = set_idx[p.modes[d1].mode + p.modes[d1].editor]
        s2 = set_idx[p.modes[d2].mode + p.modes[d2].editor]
        if s1 != s2:
            swaps.append({"between": [p.modes[d1].key, p.modes[d2].key], "switches_per_hour": round(rate, 3),
                          "seconds": round(0.5 * float(p.swap_s[d1, sol.mode_pair[d1]] + p.swap_s[d2, sol.mode_pair[d2]]), 1)})
    pol = cat.policy
    return Plan.model_validate({
        "version": PLAN_VERSION, "hardware": cat.hardware,
        "budget_gib": round(p.budget_gib, 3), "budget_requested_gib": cat.budget_requested_gib,
        "cluster": cb.to_json() if cb else None,
        "budget_source": cat.budget_source, "kept_free_gib": cat.kept_free_gib,
        "policy": {"never_together": [list(x) for x in pol.never_together], "headroom_gib": pol.headroom_gib,
                   "other_work_gib": pol.other_work_gib, "cache_ram_gib": pol.cache_ram_gib, "kv_type": pol.kv_type,
                   "quality_benchmark": pol.quality_benchmark, "pins": pol.pins},
        "assignments": assignments, "resident_sets": sets, "swaps": swaps,
        "objective": round(sol.objective, 6), "status": sol.status,
        "stats": {"queries_priced": cat.priced, "pairs": len(p.pair_quant), "servers": int(len(p.srv_pair)),
                  "milp_vars": sol.n_vars, "milp_rows": sol.n_cons, "solve_s": round(sol.solve_s, 3),
                  "proof": sol.proof},
    })


def _member_split(cat: Catalogue, j: int, ctx: int) -> dict | None:
    """How a split server is laid out (what the llama-swap export needs): devices, boxes, endpoints."""
    sp = cat.split.get(j)
    if sp is None:
        return None
    cb = cat.cluster
    from vtt.optimize.candidates import ladder_for

    p = cat.problem
    ladder = ladder_for(cat.world.model(p.models[p.pair_model[j]]).n_ctx_train, cat.policy)
    devices = sp.devices[ladder.index(ctx)]
    return {"cluster": cb.id, "link": cb.link, "boxes": cb.box_names, "endpoints": cb.endpoints,
            "main_device": cb.main_device, "tensor_split": cb.tensor_split, "devices": devices}


def _mode_split(cat: Catalogue, d: int, j: int) -> dict | None:
    """A split mode's price terms: the network per token, and the one-box speed it gives up."""
    sp = cat.split.get(j)
    if sp is None:
        return None
    j1 = cat.onebox_of[j]
    spd = cat.speeds
    return {"boxes": len(cat.cluster.box_names), "cluster": cat.cluster.id, "link": cat.cluster.link,
            "network_ms_per_token": round(float(sp.net_ms[d]), 3),
            "tg_tps_one_box": round(float(spd["tg_tps"][d, j1]), 2),
            "pp_tps_one_box": round(float(spd["pp_tps"][d, j1]), 2),
            "fits_one_box": bool(cat.problem.allowed[d, j1] or not any(
                "GiB" in r for r in cat.reasons.get((d, j1), [])))}
