"""check_plan(): does a plan keep every policy and fit? Memory is recomputed with the cost model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vtt.errors import BadQuery, VttError
from vtt.specs.catalog import World
from vtt.specs.policy import Policy


class _Member(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    quant: str
    context: int = Field(gt=0)
    total_gib: float | None = None


class _Set(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | int | None = None
    models: list[_Member]
    total_gib: float | None = None


class _Assignment(BaseModel):
    model_config = ConfigDict(extra="allow")
    editor: str
    mode: str
    model: str
    quant: str
    context: int | None = None


class _Plan(BaseModel):
    model_config = ConfigDict(extra="allow")
    budget_gib: float = Field(gt=0)
    hardware: str | None = None
    assignments: list[_Assignment]
    resident_sets: list[_Set]


class PlanViolated(VttError):
    code = "plan_violated"
    exit_code = 1


def read_plan(path: str | Path) -> _Plan:
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadQuery(f"{p}: no such plan file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadQuery(f"{p}: not a JSON plan: {e}") from None
    except RecursionError:  # json's decoder recurses per nesting level
        raise BadQuery(f"{p}: not a JSON plan: nested too deeply") from None
    try:
        return _Plan.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "(document)"
        raise BadQuery(f"{p}: field '{field}': {err['msg']}") from None


def check_plan(plan: _Plan, world: World, policy: Policy, editors: dict, *, hardware: str) -> dict:
    from vtt.budget import resolve_budget
    from vtt.optimize.candidates import mode_reqs, under_size_floor
    from vtt.optimize.price import Pricer, resolve_catalog_model

    hw = world.get_hardware(hardware)
    gpu_gib, _ = resolve_budget(hw, None)      # the same budget optimize reads (this machine, else the spec)
    limit = min(plan.budget_gib, gpu_gib - policy.other_work_gib - policy.headroom_gib)
    violations: list[str] = []
    notes: list[str] = []
    members = [(si, m) for si, s in enumerate(plan.resident_sets) for m in s.models]
    for _, m in members:  # unknown names are bad input (exit 2), not a violation
        world.model(m.model)
        world.quant(m.quant)
    cb, split_pricer = _cluster(plan, world, hw, limit, policy)
    pricer = Pricer(world, hw.id, split_pricer.pricer.be.id if split_pricer else None)
    n_box = len(cb.box_names) if cb else 1
    totals = [np.zeros(n_box) for _ in plan.resident_sets]     # per box (one box: the main one)
    for si, m in members:
        if m.context > 10_000_000:
            raise BadQuery(f"resident set {plan.resident_sets[si].id}: {m.model}/{m.quant}: context {m.context} "
                           "is not a context any model has")
        rm = resolve_catalog_model(world, world.model(m.model).id, world.quant(m.quant).id)
        if _is_split(m):
            if split_pricer is None:
                raise BadQuery(f"resident set {plan.resident_sets[si].id}: {m.model}/{m.quant} runs split, but the "
                               "plan names no cluster")
            none = np.zeros(0, dtype=np.int64)
            sp = split_pricer.price(rm, world.model(m.model).id, [m.context], none, none, none, np.zeros(0),
                                    np.zeros(0), policy.kv_type)
            box = sp.box_gib[0].copy()
        else:
            box = np.zeros(n_box)
            box[0] = float(pricer.memory_gib(rm, [m.context], policy.kv_type)[0])
        box[0] += policy.cache_ram_gib
        gib = float(box.sum())
        totals[si] += box
        if m.total_gib is not None and abs(m.total_gib - gib) > 0.5:
            notes.append(f"set {plan.resident_sets[si].id}: {m.model}/{m.quant} at {m.context} needs {gib:.1f} GiB, "
                         f"the plan says {m.total_gib:.1f}")
    never = {frozenset((world.model(a).id, world.model(b).id)) for a, b in policy.never_together}
    budgets = np.r_[limit, cb.budgets_gib[1:]] if cb else np.array([limit])
    for si, s in enumerate(plan.resident_sets):
        sid = s.id if s.id is not None else si + 1
        for b in range(n_box):
            if totals[si][b] > budgets[b] + 1e-6:
                where = f" on {cb.box_names[b]}" if cb else ""
                violations.append(f"resident set {sid} needs {totals[si][b]:.1f} GiB{where} (cost model), over the "
                                  f"{budgets[b]:.1f} GiB budget")
        declared = (s.model_extra or {}).get("box_gib") if cb else None
        if cb and isinstance(declared, list):
            for b, g in enumerate(declared[:n_box]):
                if isinstance(g, (int, float)) and g > budgets[b] + 1e-6:
                    violations.append(f"resident set {sid} declares {g:.1f} GiB on {cb.box_names[b]}, over its "
                                      f"{budgets[b]:.1f} GiB budget")
        elif s.total_gib is not None and s.total_gib > plan.budget_gib + 1e-6:
            violations.append(f"resident set {sid} declares {s.total_gib:.1f} GiB, over its own budget_gib {plan.budget_gib:g}")
        ids = [world.model(m.model).id for m in s.models]
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                if frozenset((a, b)) in never:
                    violations.append(f"resident set {sid} holds {a} and {b}, which a policy says never to run together")
    served = {(world.model(m.model).id, world.quant(m.quant).id): m.context for s in plan.resident_sets for m in s.models}
    split_served = {(world.model(m.model).id, world.quant(m.quant).id) for s in plan.resident_sets for m in s.models
                    if _is_split(m)}
    modes = {md.key: md for md in mode_reqs(editors, policy)[0]}
    speed_q, speed_for = [], []
    for a in plan.assignments:
        key = f"{a.editor.lower()}/{a.mode.lower()}"
        mid, qid = world.model(a.model).id, world.quant(a.quant).id
        if (mid, qid) not in served:
            violations.append(f"{key}: {mid}/{qid} is in no resident set")
            continue
        pin = policy.pins.get(key)
        if pin:
            pm, _, pq = pin.partition("/")
            if world.model(pm).id != mid or (pq and world.quant(pq).id != qid):
                violations.append(f"{key}: uses {mid}/{qid} but is pinned to {pin}")
        if under_size_floor(world.models[mid], policy, pin, world):
            violations.append(f"{key}: {mid} has {world.models[mid].params_total_b:g} B parameters, under the "
                              f"policy's min_params_b {policy.min_params_b:g}")
        md = modes.get(key)
        if md is None:
            continue
        if served[(mid, qid)] < md.min_context:
            violations.append(f"{key}: context {served[(mid, qid)]} under the {md.min_context} it needs")
        speed_q.append((mid, qid))
        speed_for.append(md)
    if speed_q:     # request-level times, as the optimizer computes them
        from vtt.optimize.price import Pricer, resolve_catalog_model

        for (mid, qid), md in zip(speed_q, speed_for):
            rm = resolve_catalog_model(world, mid, qid)
            pp, tg, ttft, _ = pricer.request(rm, [md.depth], [md.n_prompt], [md.n_gen], policy.kv_type)
            if (mid, qid) in split_served:      # the split's speed, with the network paid
                sp = split_pricer.price(rm, mid, [served[(mid, qid)]], [md.depth], [md.n_prompt], [md.n_gen], pp, tg,
                                        policy.kv_type)
                tg, ttft = sp.tg_tps, sp.ttft_s
            if tg[0] < md.min_tg_tps - 1e-6:
                violations.append(f"{md.key}: {mid} {tg[0]:.1f} t/s after the prompt, under the {md.min_tg_tps:g} t/s it needs")
            if ttft[0] > md.max_ttft_s + 1e-6:
                violations.append(f"{md.key}: {mid} first token after {ttft[0]:.1f} s, over {md.max_ttft_s:g} s")
    out = {"ok": not violations, "violations": violations, "notes": notes, "budget_gib": round(limit, 3),
           "resident_sets": [{"id": s.id, "total_gib": round(float(t.sum()), 3)} for s, t in zip(plan.resident_sets, totals)]}
    if cb:
        out["box_budgets_gib"] = [round(float(b), 3) for b in budgets]
        for r, t in zip(out["resident_sets"], totals):
            r["box_gib"] = [round(float(x), 3) for x in t]
    return out


def _is_split(m) -> bool:
    return bool((m.model_extra or {}).get("split"))


def _cluster(plan: _Plan, world: World, hw, main_limit: float, policy: Policy):
    """(ClusterBudget, SplitPricer) of a plan made for a cluster (its `cluster.query`), else (None, None).
    Each other box's budget is the smaller of the plan's and the one recomputed from the specs."""
    cl = (plan.model_extra or {}).get("cluster")
    if not cl:
        return None, None
    from vtt.optimize.price import Pricer
    from vtt.optimize.split import SplitPricer, cluster_budget

    q = cl.get("query") if isinstance(cl, dict) else None
    if not isinstance(q, dict) or not (q.get("cluster") or q.get("boxes")):
        raise BadQuery("field 'cluster.query': a cluster plan needs {cluster: ID} or {boxes: N, link: ID}")
    try:
        boxes = int(q["boxes"]) if q.get("boxes") is not None else None
    except (TypeError, ValueError):
        raise BadQuery(f"field 'cluster.query.boxes': not a number: {q.get('boxes')!r}") from None
    cb = cluster_budget(world, hw, main_limit, cluster=q.get("cluster"), boxes=boxes, link=q.get("link"),
                        budget_gib=None, headroom_gib=policy.headroom_gib)
    declared = [b.get("budget_gib") for b in cl.get("boxes", []) if isinstance(b, dict)]
    for i, g in enumerate(declared[:len(cb.budgets_gib)]):
        if i and isinstance(g, (int, float)):
            cb.budgets_gib[i] = min(cb.budgets_gib[i], float(g))
    main = world.get_cluster(q["cluster"]).boxes[0].backend if q.get("cluster") else None
    return cb, SplitPricer(world, cb, Pricer(world, hw.id, main))
