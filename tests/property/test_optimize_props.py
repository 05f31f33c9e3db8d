"""Properties of the exact optimizer over random catalogs, budgets and policies.

Profiles: HYPOTHESIS_PROFILE=ci (few examples, default) or dev (more).
"""

from __future__ import annotations

import itertools
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vtt.optimize.milp import solve
from vtt.optimize.problem import ModeReq, Problem

settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

CTX = [8192, 16384, 32768]


def draw_modes(draw, n_modes: int, J: int, n_models: int):
    """Modes with their context, value and allowed pairs, swap times, mode pairs that alternate and
    never-together model pairs, as both brute-force property tests draw them."""
    modes = [ModeReq(f"e/m{d}", "e", f"m{d}", draw(st.sampled_from(CTX)), 0, 1e9, 0.5, 0.5, 1.0, 0, 1, 1)
             for d in range(n_modes)]
    value = np.array([[draw(st.floats(0, 1)) for _ in range(J)] for _ in range(n_modes)])
    allowed = np.array([[draw(st.booleans()) or draw(st.booleans()) for _ in range(J)] for _ in range(n_modes)])
    swap_s = np.array([[draw(st.floats(0, 600)) for _ in range(J)] for _ in range(n_modes)])
    pairs = [(a, b, draw(st.floats(0.5, 20))) for a in range(n_modes) for b in range(a + 1, n_modes) if draw(st.booleans())]
    never = [(a, b) for a in range(n_models) for b in range(a + 1, n_models) if draw(st.booleans())]
    return modes, value, allowed, swap_s, pairs, never


@st.composite
def problems(draw, max_models=3, max_modes=3):
    n_models = draw(st.integers(1, max_models))
    n_modes = draw(st.integers(1, max_modes))
    pair_model, pair_quant = [], []
    for m in range(n_models):
        for q in range(draw(st.integers(1, 2))):
            pair_model.append(m)
            pair_quant.append(f"Q{q}")
    J = len(pair_model)
    srv_pair, srv_ctx, srv_mem = [], [], []
    for j in range(J):
        base = draw(st.floats(2, 40))
        for i, c in enumerate(CTX[: draw(st.integers(2, 3))]):
            srv_pair.append(j); srv_ctx.append(c); srv_mem.append(base + 2.0 * i)
    modes, value, allowed, swap_s, pairs, never = draw_modes(draw, n_modes, J, n_models)
    return Problem(
        modes=modes, models=[f"m{i}" for i in range(n_models)], pair_model=np.array(pair_model),
        pair_quant=pair_quant, quality=np.zeros(J), srv_pair=np.array(srv_pair), srv_ctx=np.array(srv_ctx),
        srv_mem=np.array(srv_mem), srv_load_s=np.zeros(len(srv_pair)), value=value, allowed=allowed, swap_s=swap_s,
        pairs=pairs, never=never, budget_gib=draw(st.floats(15, 90)), set_penalty=draw(st.sampled_from([0.0, 0.01])),
        swap_weight=1.0,
    )


def _partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]
        yield [[first]] + part


def brute_force(p: Problem) -> float | None:
    D = len(p.modes)
    K = len(p.srv_pair)
    choices = [[j for j in range(len(p.pair_quant)) if any(p.serves(d, k) and p.srv_pair[k] == j for k in range(K))]
               for d in range(D)]
    best = None
    for pick in itertools.product(*choices):
        by_model: dict[int, int] = {}
        ok = True
        for d, j in enumerate(pick):
            m = int(p.pair_model[j])
            if by_model.setdefault(m, j) != j:
                ok = False
        if not ok:
            continue
        mem = {}
        for m, j in by_model.items():
            need = max(p.modes[d].min_context for d in range(D) if p.pair_model[pick[d]] == m)
            cover = [k for k in range(K) if p.srv_pair[k] == j and p.srv_ctx[k] >= need and p.serves(
                next(d for d in range(D) if pick[d] == j), k)]
            cover = [k for k in cover if all(p.serves(d, k) for d in range(D) if pick[d] == j)]
            if not cover:
                ok = False
                break
            mem[m] = min(p.srv_mem[k] for k in cover)
        if not ok:
            continue
        base = sum(p.value[d, j] for d, j in enumerate(pick)) - p.mem_epsilon * sum(mem.values())
        for part in _partitions(sorted(mem)):
            if any(sum(mem[m] for m in s) > p.budget_gib + 1e-9 for s in part):
                continue
            obj = partition_objective(p, pick, part, base)
            if obj is not None and (best is None or obj > best):
                best = obj
    return best


def partition_objective(p: Problem, pick, part, base: float) -> float | None:
    """The objective of serving modes by `pick` with the deployed models grouped into resident sets
    `part` (memory already checked), or None where a set holds a never-together pair."""
    if any(a in s and b in s for s in part for a, b in p.never):
        return None
    where = {m: i for i, s in enumerate(part) for m in s}
    obj = base - p.set_penalty * len(part)
    for d1, d2, rate in p.pairs:
        if where[int(p.pair_model[pick[d1]])] != where[int(p.pair_model[pick[d2]])]:
            obj -= p.swap_weight * rate / 3600 * 0.5 * (p.swap_s[d1, pick[d1]] + p.swap_s[d2, pick[d2]])
    return obj


def _check_plan(p: Problem, sol) -> None:
    for members in sol.sets:
        assert sum(p.srv_mem[k] for k in members) <= p.budget_gib + 1e-6
        ms = {int(p.pair_model[p.srv_pair[k]]) for k in members}
        for a, b in p.never:
            assert not (a in ms and b in ms)
    deployed = {int(p.srv_pair[k]): k for k in sol.servers}
    for d, j in enumerate(sol.mode_pair):
        assert p.allowed[d, j]
        assert p.srv_ctx[deployed[j]] >= p.modes[d].min_context


@given(problems())
def test_milp_equals_brute_force_and_keeps_every_rule(p):
    sol = solve(p)
    bf = brute_force(p)
    if sol.status == "infeasible":
        assert bf is None
        assert sol.reason
        return
    assert bf is not None
    assert abs(sol.objective - bf) < 1e-6
    assert sol.proof                                 # says how optimality was proven
    _check_plan(p, sol)


@given(problems(), st.floats(1, 40))
def test_more_budget_never_lowers_the_objective(p, extra):
    a = solve(p)
    p.budget_gib += extra
    b = solve(p)
    if a.status != "infeasible":
        assert b.objective >= a.objective - 1e-7


@given(problems(), st.data())
def test_adding_a_policy_never_raises_the_objective(p, data):
    a = solve(p)
    n = len(p.models)
    extra = data.draw(st.sampled_from(["never", "min_context", "pin"]))
    if extra == "never" and n >= 2:
        p.never = p.never + [(0, n - 1)]
    elif extra == "min_context":
        p.modes[0].min_context = max(CTX)
    else:
        keep = data.draw(st.integers(0, len(p.pair_quant) - 1))
        p.allowed = p.allowed.copy()
        p.allowed[0, [j for j in range(len(p.pair_quant)) if j != keep]] = False
    b = solve(p)
    if b.status != "infeasible":
        assert a.status != "infeasible"
        assert b.objective <= a.objective + 1e-7


@given(problems())
def test_the_same_input_gives_the_same_plan(p):
    a, b = solve(p), solve(p)
    assert (a.status, a.mode_pair, a.servers, a.sets) == (b.status, b.mode_pair, b.servers, b.sets)
