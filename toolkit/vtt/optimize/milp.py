"""The exact model: which pair serves each mode, which servers are deployed, and which resident set
(models loaded together) each deployed model belongs to.

Resident sets use the representative formulation: set s may exist only if mode s is in it and is its
lowest-numbered mode, so no two labelings of the same partition are both feasible (symmetry broken).
Memory per set uses one continuous t[m, s] per model and set, forced up to the model's memory when
the model is in the set (a big-M row, M = the model's largest server).
"""

from __future__ import annotations

import time

import numpy as np

from vtt.optimize.problem import Problem, Solution


class _Vars:
    def __init__(self):
        self.n = 0
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.integer: list[int] = []
        self.cost: list[float] = []

    def add(self, cost=0.0, lo=0.0, hi=1.0, integer=True) -> int:
        self.lo.append(lo)
        self.hi.append(hi)
        self.integer.append(1 if integer else 0)
        self.cost.append(cost)
        self.n += 1
        return self.n - 1


class _Rows:
    def __init__(self):
        self.r: list[int] = []
        self.c: list[int] = []
        self.v: list[float] = []
        self.lb: list[float] = []
        self.ub: list[float] = []

    def add(self, terms: dict[int, float] | list[tuple[int, float]], lb: float, ub: float) -> None:
        i = len(self.lb)
        items = terms.items() if isinstance(terms, dict) else terms
        for col, val in items:
            self.r.append(i)
            self.c.append(col)
            self.v.append(val)
        self.lb.append(lb)
        self.ub.append(ub)


def solve(p: Problem, time_limit_s: float = 60.0) -> Solution:
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    t0 = time.perf_counter()
    D = len(p.modes)
    K = len(p.srv_pair)
    serves = [[k for k in range(K) if p.serves(d, k)] for d in range(D)]
    for d in range(D):
        if not serves[d]:
            return Solution("infeasible", None, [], [], [], reason=f"{p.modes[d].key}: no candidate meets its needs")
    V, R = _Vars(), _Rows()
    pair_model = p.pair_model
    # x[d, j]
    x: dict[tuple[int, int], int] = {}
    for d in range(D):
        for j in sorted({int(p.srv_pair[k]) for k in serves[d]}):
            x[d, j] = V.add(cost=-float(p.value[d, j]))
    used_k = sorted({k for d in range(D) for k in serves[d]})
    y = {k: V.add(cost=p.mem_epsilon * float(p.srv_mem[k])) for k in used_k}
    models = sorted({int(pair_model[p.srv_pair[k]]) for k in used_k})
    k_of_m = {m: [k for k in used_k if pair_model[p.srv_pair[k]] == m] for m in models}
    v = {(d, s): V.add(cost=(p.set_penalty if d == s else 0.0)) for d in range(D) for s in range(d + 1)}
    u = {(m, s): V.add() for m in models for s in range(D)}
    bigm = {m: max(float(p.srv_mem[k]) for k in k_of_m[m]) for m in models}
    t = {(m, s): V.add(lo=0.0, hi=bigm[m], integer=False) for m in models for s in range(D)}
    # one pair per mode
    for d in range(D):
        R.add({x[d, j]: 1.0 for (dd, j) in x if dd == d}, 1, 1)
    # a chosen pair needs a deployed server of it whose context covers the mode
    for (d, j), col in x.items():
        terms = {col: 1.0}
        for k in serves[d]:
            if p.srv_pair[k] == j:
                terms[y[k]] = -1.0
        R.add(terms, -np.inf, 0)
    for m in models:
        R.add({y[k]: 1.0 for k in k_of_m[m]}, -np.inf, 1)              # one server per model
        terms = {u[m, s]: 1.0 for s in range(D)}
        terms.update({y[k]: -1.0 for k in k_of_m[m]})
        R.add(terms, 0, 0)                                              # a deployed model is in one set
        for s in range(D):
            R.add({u[m, s]: 1.0, v[s, s]: -1.0}, -np.inf, 0)            # only in an open set
            terms = {t[m, s]: 1.0, u[m, s]: -bigm[m]}
            for k in k_of_m[m]:
                terms[y[k]] = -float(p.srv_mem[k])
            R.add(terms, -bigm[m], np.inf)                              # t >= mem if in set s
    for s in range(D):
        R.add({t[m, s]: 1.0 for m in models}, -np.inf, p.budget_gib)    # each set within the budget
    # mode d sits in the set of its model
    for d in range(D):
        R.add({v[d, s]: 1.0 for s in range(d + 1)}, 1, 1)
        js_by_m: dict[int, list[int]] = {}
        for (dd, j) in x:
            if dd == d:
                js_by_m.setdefault(int(pair_model[j]), []).append(j)
        for m, js in js_by_m.items():
            for s in range(D):
                terms = {x[d, j]: 1.0 for j in js}
                terms[u[m, s]] = 1.0
                if s <= d:
                    terms[v[d, s]] = -1.0
                    R.add(terms, -np.inf, 1)     # x_dm + u_ms - 1 <= v_ds
                else:
                    R.add(terms, -np.inf, 1)     # set s > d cannot hold mode d's model
    for (a, b) in p.never:
        if a in bigm and b in bigm:
            for s in range(D):
                R.add({u[a, s]: 1.0, u[b, s]: 1.0}, -np.inf, 1)
    # swaps between modes used together
    for (d1, d2, rate) in p.pairs:
        sw = V.add()
        L = 0.5 * (max(p.swap_s[d1, j] for (dd, j) in x if dd == d1) + max(p.swap_s[d2, j] for (dd, j) in x if dd == d2))
        c = V.add(cost=p.swap_weight * rate / 3600.0, lo=0.0, hi=max(L, 0.0), integer=False)
        for s in range(D):
            terms = {sw: 1.0}
            if s <= d1:
                terms[v[d1, s]] = -1.0
            if s <= d2:
                terms[v[d2, s]] = terms.get(v[d2, s], 0.0) + 1.0
            R.add(terms, 0, np.inf)
        terms = {c: 1.0, sw: -L}
        for (dd, j), col in x.items():
            if dd in (d1, d2):
                terms[col] = terms.get(col, 0.0) - 0.5 * float(p.swap_s[dd, j])
        R.add(terms, -L, np.inf)
    A = csr_matrix((R.v, (R.r, R.c)), shape=(len(R.lb), V.n))
    res = milp(
        c=np.array(V.cost), integrality=np.array(V.integer), bounds=Bounds(V.lo, V.hi),
        constraints=LinearConstraint(A, R.lb, R.ub),
        options={"mip_rel_gap": 0.0, "time_limit": time_limit_s, "presolve": True},
    )
    dt = time.perf_counter() - t0
    if res.x is None:
        why = "no assignment keeps every policy within the budget" if res.status == 2 else f"solver: {res.message}"
        return Solution("infeasible", None, [], [], [], reason=why, solve_s=dt, n_vars=V.n, n_cons=len(R.lb))
    sol = res.x
    mode_pair = [next(j for (dd, j), col in x.items() if dd == d and sol[col] > 0.5) for d in range(D)]
    servers = [k for k in used_k if sol[y[k]] > 0.5]
    sets: list[list[int]] = []
    for s in range(D):
        members = [k for k in servers if sol[u[int(pair_model[p.srv_pair[k]]), s]] > 0.5]
        if members:
            sets.append(members)
    status = "optimal" if res.status == 0 else "time_limit"
    return Solution(status, -float(res.fun), mode_pair, servers, sets, solve_s=dt, n_vars=V.n, n_cons=len(R.lb))
