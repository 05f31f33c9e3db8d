"""Properties of the optimizer on a cluster: the per-box MILP against a brute force, offering a cluster never
costs a plan anything, and the real cost model's split candidates are never faster than one box.

Profiles: HYPOTHESIS_PROFILE=ci (few examples, default) or dev (more).
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_optimize_props import _partitions, draw_modes, partition_objective  # noqa: E402  (same folder: pytest puts it on sys.path)
from vtt.optimize.milp import solve
from vtt.optimize.problem import ModeReq, Problem

CTX = [8192, 16384, 32768]


@st.composite
def cluster_problems(draw, max_models=3, max_modes=3, max_other=2):
    """Random problems on 1 + n_other boxes: some pairs run split (memory on every box), the others on the
    main box only."""
    n_models = draw(st.integers(1, max_models))
    n_modes = draw(st.integers(1, max_modes))
    n_other = draw(st.integers(1, max_other))
    pair_model, pair_quant, split = [], [], []
    for m in range(n_models):
        for q in range(draw(st.integers(1, 2))):
            pair_model.append(m)
            pair_quant.append(f"Q{q}")
            split.append(draw(st.booleans()) or draw(st.booleans()))
    J = len(pair_model)
    srv_pair, srv_ctx, srv_mem, srv_other = [], [], [], []
    for j in range(J):
        base = draw(st.floats(2, 60))
        share = draw(st.floats(0.1, 0.6)) if split[j] else 1.0   # split: most of it elsewhere
        for i, c in enumerate(CTX[: draw(st.integers(1, 3))]):
            tot = base + 2.0 * i
            srv_pair.append(j); srv_ctx.append(c); srv_mem.append(tot * share)
            srv_other.append([tot * (1 - share) / n_other] * n_other)
    modes, value, allowed, swap_s, pairs, never = draw_modes(draw, n_modes, J, n_models)
    if draw(st.booleans()):     # each mode prefers its own model: plans with several (split) models at once
        value += np.array([[float(pair_model[j] == d % n_models) for j in range(J)] for d in range(n_modes)])
    return Problem(
        modes=modes, models=[f"m{i}" for i in range(n_models)], pair_model=np.array(pair_model),
        pair_quant=pair_quant, quality=np.zeros(J), srv_pair=np.array(srv_pair), srv_ctx=np.array(srv_ctx),
        srv_mem=np.array(srv_mem), srv_load_s=np.zeros(len(srv_pair)), value=value, allowed=allowed, swap_s=swap_s,
        pairs=pairs, never=never, budget_gib=draw(st.floats(10, 70)), set_penalty=draw(st.sampled_from([0.0, 0.01])),
        swap_weight=1.0, srv_mem_other=np.array(srv_other), budget_other=np.array([draw(st.floats(5, 45)) for _ in range(n_other)]),
        pair_split=np.array(split),
    )


def brute_force(p: Problem) -> float | None:
    """Every pair per mode, every server per deployed model, every partition into sets; each set within every
    box's budget."""
    D, K = len(p.modes), len(p.srv_pair)
    box = np.c_[p.srv_mem, p.mem_other()]
    budgets = np.r_[p.budget_gib, p.other_budgets()]
    choices = [[j for j in range(len(p.pair_quant)) if any(p.serves(d, k) and p.srv_pair[k] == j for k in range(K))]
               for d in range(D)]
    best = None
    for pick in itertools.product(*choices):
        by_model: dict[int, int] = {}
        if any(by_model.setdefault(int(p.pair_model[j]), j) != j for j in pick):
            continue
        options = []
        for m, j in by_model.items():
            ds = [d for d in range(D) if pick[d] == j]
            options.append([k for k in range(K) if p.srv_pair[k] == j and all(p.serves(d, k) for d in ds)])
        if any(not o for o in options):
            continue
        models = list(by_model)
        for ks in itertools.product(*options):
            srv = dict(zip(models, ks))
            base = sum(p.value[d, j] for d, j in enumerate(pick)) - p.mem_epsilon * sum(box[k].sum() for k in ks)
            for part in _partitions(sorted(models)):
                if any((sum(box[srv[m]] for m in s) > budgets + 1e-9).any() for s in part):
                    continue
                obj = partition_objective(p, pick, part, base)
                if obj is not None and (best is None or obj > best):
                    best = obj
    return best


def test_two_split_models_that_fit_alone_but_not_together_on_the_other_box_get_two_sets():
    """Each fits every box alone (10 + 30 GiB); together they fit the main box (20 of 50) but not the other
    (60 of 40): one resident set would break the other box's budget, so the plan swaps."""
    modes = [ModeReq(f"e/m{d}", "e", f"m{d}", 8192, 0, 1e9, 0.5, 0.5, 1.0, 0, 1, 1) for d in range(2)]
    p = Problem(modes=modes, models=["a", "b"], pair_model=np.array([0, 1]), pair_quant=["Q", "Q"], quality=np.zeros(2),
                srv_pair=np.array([0, 1]), srv_ctx=np.array([8192, 8192]), srv_mem=np.array([10.0, 10.0]),
                srv_load_s=np.zeros(2), value=np.array([[1.0, 0.0], [0.0, 1.0]]), allowed=np.ones((2, 2), bool),
                swap_s=np.full((2, 2), 300.0), pairs=[(0, 1, 10.0)], never=[], budget_gib=50,
                srv_mem_other=np.array([[30.0], [30.0]]), budget_other=np.array([40.0]), pair_split=np.array([True, True]))
    sol = solve(p)
    assert sol.status == "optimal" and sorted(map(sorted, sol.sets)) == [[0], [1]]
    assert abs(sol.objective - brute_force(p)) < 1e-9


@given(cluster_problems())
@settings(max_examples=60)
def test_milp_on_a_cluster_equals_brute_force_and_keeps_every_box_within_budget(p):
    sol = solve(p)
    bf = brute_force(p)
    if sol.status == "infeasible":
        assert bf is None
        return
    assert bf is not None and abs(sol.objective - bf) < 1e-6
    box = np.c_[p.srv_mem, p.mem_other()]
    for members in sol.sets:
        assert (box[members].sum(axis=0) <= np.r_[p.budget_gib, p.other_budgets()] + 1e-6).all()
    models = [int(p.pair_model[p.srv_pair[k]]) for k in sol.servers]
    assert len(models) == len(set(models))          # one server per model: split or not, never both


def _with_split_copies(p: Problem, slow: list[float], share: list[float], other_budget: float) -> Problem:
    """p offered a 2-box cluster: every pair gets a split copy, slower (its value times slow[j] <= 1), with
    share[j] of its memory on the main box and the rest on the other box."""
    q = copy.deepcopy(p)
    J, K = len(p.pair_quant), len(p.srv_pair)
    q.pair_model = np.r_[p.pair_model, p.pair_model]
    q.pair_quant = p.pair_quant + p.pair_quant
    q.quality = np.r_[p.quality, p.quality]
    q.value = np.c_[p.value, p.value * np.array(slow)[None, :]]
    q.allowed = np.c_[p.allowed, p.allowed]
    q.swap_s = np.c_[p.swap_s, p.swap_s]
    sh = np.array(share)[p.srv_pair]
    q.srv_pair = np.r_[p.srv_pair, p.srv_pair + J]
    q.srv_ctx = np.r_[p.srv_ctx, p.srv_ctx]
    q.srv_mem = np.r_[p.srv_mem, p.srv_mem * sh]
    q.srv_load_s = np.r_[p.srv_load_s, p.srv_load_s]
    q.srv_mem_other = np.r_[np.zeros(K), p.srv_mem * (1 - sh)].reshape(-1, 1)
    q.budget_other = np.array([other_budget])
    q.pair_split = np.r_[np.zeros(J, bool), np.ones(J, bool)]
    return q


@st.composite
def offered(draw):
    p = draw(cluster_problems(max_other=1))
    one = copy.deepcopy(p)      # the same problem on one box: no split pairs, nothing on other boxes
    keep = ~p.pair_split
    if not keep.any():
        keep[0] = True
    idx = np.nonzero(keep)[0]
    remap = {int(j): i for i, j in enumerate(idx)}
    ks = np.nonzero(np.isin(p.srv_pair, idx))[0]
    one.pair_model, one.pair_quant = p.pair_model[idx], [p.pair_quant[j] for j in idx]
    one.quality, one.value, one.allowed, one.swap_s = p.quality[idx], p.value[:, idx], p.allowed[:, idx], p.swap_s[:, idx]
    one.srv_pair = np.array([remap[int(j)] for j in p.srv_pair[ks]], dtype=np.int64)
    one.srv_ctx, one.srv_mem, one.srv_load_s = p.srv_ctx[ks], p.srv_mem[ks], p.srv_load_s[ks]
    one.srv_mem_other, one.budget_other, one.pair_split = None, None, None
    J = len(idx)
    slow = [draw(st.floats(0.3, 1.0)) for _ in range(J)]
    share = [draw(st.floats(0.1, 0.9)) for _ in range(J)]
    return one, _with_split_copies(one, slow, share, draw(st.floats(1, 80)))


@given(offered())
@settings(max_examples=40)
def test_offering_a_cluster_never_lowers_the_plan_nor_makes_it_infeasible(pq):
    one, two = pq
    a, b = solve(one), solve(two)
    if a.status == "optimal":
        assert b.status == "optimal", b.reason
        assert b.objective >= a.objective - 1e-7


# ---- the real cost model ----

MODELS = ["gpt-oss-20b", "qwen3-coder-30b-a3b", "gpt-oss-120b", "glm-4.5-air", "qwen3-235b-a22b", "glm-4.7"]


@pytest.fixture(scope="module")
def inputs():
    from vtt.optimize.inputs import load_inputs

    return load_inputs(None, "roo")


@given(models=st.lists(st.sampled_from(MODELS), min_size=1, max_size=3, unique=True),
       budget=st.floats(24, 128), boxes=st.integers(2, 3), link=st.sampled_from(["10gbe", "usb4-net", "2.5gbe"]))
@settings(max_examples=6, deadline=None)
def test_a_cluster_keeps_one_box_prices_and_split_is_never_faster(inputs, models, budget, boxes, link):
    from vtt.optimize.candidates import build_catalogue

    world, eds, pol = inputs
    one = build_catalogue(world, eds, pol, hardware=None, budget_gib=budget, model_ids=models)
    two = build_catalogue(world, eds, pol, hardware=None, budget_gib=budget, model_ids=models, boxes=boxes, link=link)
    J = len(one.pair_label)
    for k in ("pp_tps", "tg_tps", "ttft_s", "gen_s"):
        assert np.array_equal(one.speeds[k], two.speeds[k][:, :J])     # a model that fits one box keeps its prices
    assert np.array_equal(one.problem.value, two.problem.value[:, :J])
    assert np.array_equal(one.problem.allowed, two.problem.allowed[:, :J])
    for j2, j1 in two.onebox_of.items():
        assert (two.speeds["tg_tps"][:, j2] <= two.speeds["tg_tps"][:, j1] + 0.006).all()   # the network is paid
        assert (two.speeds["ttft_s"][:, j2] >= two.speeds["ttft_s"][:, j1] * (1 - 1e-4)).all()
        assert (two.problem.value[:, j2] <= two.problem.value[:, j1] + 1e-4).all()
        assert two.problem.quality[j2] == two.problem.quality[j1]
    a, b = solve(one.problem), solve(two.problem)
    if a.status == "optimal":          # a cluster never makes a feasible plan infeasible, nor a worse one
        assert b.status == "optimal"
        assert b.objective >= a.objective - 1e-7
