"""The seed's kind of decision, as properties over generated inventories (subsets of the real catalog with
the seed's policies, priced by the real cost model), not one hard-coded answer:

- the never-together rules hold in every resident set;
- a reasoning mode (quality weight >= 0.7) never gets a weaker model than Ask of the same editor when both
  sit in one resident set (each picks the best value among the set's models, and reasoning modes weigh
  quality four times more than speed, Ask four times less);
- when a stronger model than Ask's fits beside it and meets a reasoning mode's time limits, that mode does
  not stay on Ask's model;
- nothing is excluded silently: every other model of the inventory is in each mode's `rejected`, with a reason.
"""

from __future__ import annotations

from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

SEED = ["glm-4.7-flash", "gpt-oss-20b", "glm-4.7-flash-reap-23b", "qwen3-next-80b-a3b", "glm-4.7-reap-218b",
        "qwen3-235b-a22b"]
OTHERS = ["qwen3-coder-30b-a3b", "gpt-oss-120b", "devstral-2-123b", "qwen3.5-35b-a3b", "gemma-3-27b",
          "qwen3-coder-next", "glm-4.5-air", "nemotron-3-nano-30b-a3b"]
REASONING = {("roo", "architect"), ("roo", "debug"), ("cursor", "plan"), ("cursor", "debug"), ("claude-code", "plan")}


@lru_cache(maxsize=64)
def _plan(models: tuple[str, ...], budget: float):
    from vtt.errors import VttError
    from vtt.optimize import optimize

    try:
        return optimize(models=list(models), budget_gib=budget).to_json()
    except VttError:
        return None


@st.composite
def inventories(draw):
    fast = draw(st.sampled_from(["gpt-oss-20b", "glm-4.7-flash", "qwen3-coder-30b-a3b"]))
    rest = draw(st.lists(st.sampled_from(SEED + OTHERS), min_size=2, max_size=4, unique=True))
    models = tuple(sorted({fast, *rest}))
    budget = draw(st.sampled_from([64.0, 96.0, 128.0]))
    return models, budget


def _policy_pairs():
    from vtt.optimize.inputs import load_inputs

    world, _, pol = load_inputs()
    return world, {frozenset((world.model(a).id, world.model(b).id)) for a, b in pol.never_together}


@settings(max_examples=12, deadline=None)
@given(inventories())
def test_the_seed_kind_of_decision_holds_on_generated_inventories(inv):
    models, budget = inv
    plan = _plan(models, budget)
    if plan is None:
        return          # no feasible plan: the infeasibility message is tested elsewhere
    world, never = _policy_pairs()
    for s in plan["resident_sets"]:
        ids = [m["model"] for m in s["models"]]
        assert not any(frozenset((a, b)) in never for i, a in enumerate(ids) for b in ids[i + 1:]), ids
    by = {(a["editor"], a["mode"]): a for a in plan["assignments"]}
    for (ed, mode), a in by.items():
        assert a["binding"]
        named = {r.split("/")[0] for r in a["rejected"]}
        assert named == set(models) - {a["model"]}, (ed, mode, named)
        if (ed, mode) not in REASONING:
            continue
        ask = by.get((ed, "ask")) or by.get(("roo", "ask"))
        if ask["resident_set"] == a["resident_set"]:
            assert a["quality"] >= ask["quality"] - 1e-9, (ed, mode, a["model"], ask["model"])
        if a["model"] == ask["model"]:
            # staying on Ask's model: every stronger model lacked something (speed, time, memory, a rule)
            for r in a["rejected"]:
                assert ":" in r and r.split(": ", 1)[1], r


def test_on_the_seed_inventory_reasoning_modes_stay_on_asks_model_only_when_every_stronger_model_fails_a_limit():
    """The seed puts its reasoning modes on stronger models than Ask. On the seed's six models a reasoning
    mode gets a model at least as strong as Ask's; when it stays on Ask's model, every model of the
    inventory with a higher quality must have failed a hard limit (speed, first-token time, context,
    memory, a rule), never merely lost on value. (GLM-4.7-REAP-218B's prior is the highest, but it
    decodes under the reasoning modes' 8 t/s at their 32K-token depth.)"""
    from vtt.optimize.quality import load_quality, model_quality
    from vtt.specs.catalog import default_world

    plan = _plan(tuple(sorted(SEED)), 128.0)
    w = default_world()
    qd = load_quality(w)
    by = {(a["editor"], a["mode"]): a for a in plan["assignments"]}
    ask = by[("roo", "ask")]
    for key in REASONING:
        a = by[key]
        q_here = model_quality(qd, w, a["model"]).value
        assert q_here >= model_quality(qd, w, ask["model"]).value - 1e-9, (key, a["model"], ask["model"])
        if a["model"] != ask["model"]:
            continue
        for r in a["rejected"]:
            if model_quality(qd, w, r.split("/")[0]).value > q_here:
                assert "lower value" not in r, (key, r)
    assert any(a["quality_kind"] == "prior" for a in plan["assignments"]) or all(
        "prior" not in r for a in plan["assignments"] for r in a["rejected"])
