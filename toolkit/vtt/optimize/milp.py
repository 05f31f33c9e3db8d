"""The exact model: which pair serves each mode, which servers are deployed, and which resident set
(models loaded together) each deployed server belongs to.

Variables: x[d, j] = 1 when pair j serves mode d; z[k, s] = 1 when server k sits in set s; u[m, s] = 1 when
model m is in set s (one server per model, in one set); v[d, s] = 1 when mode d belongs to set s (set s is
open when v[s, s] = 1); sw[d1, d2] = 1 when two modes used together sit in different sets, and c[d1, d2]
the seconds such a swap costs. Constraints: each mode one pair; a chosen pair needs a deployed server of it
that covers the mode's context, in the mode's set; each set's servers within the budget (a plain knapsack
row, sum_k mem_k z[k, s] <= budget * v[s, s]); never-together models not in one set. Objective (maximized):
sum of values - set_penalty per open set - swap_weight x switches per hour x swap seconds - mem_epsilon x GiB.

Before the MILP, servers that can never be strictly needed are dropped (`undominated_servers`): a server
is dropped when another server of the same model uses no more memory, serves every mode it serves, with
at least the value and at most the swap time in each. Swapping one for the other keeps every rule (same
model, so the same sets and never-together pairs) and never lowers the objective, so the optimum is kept.

Resident sets use the representative formulation: set s may exist only if mode s is in it and is its
lowest-numbered mode, so no two labelings of the same partition are both feasible (symmetry broken), and a
server may sit in set s only if it serves some mode d >= s.

Set-count ladder (`solve`): most plans use one resident set, and the model restricted to one set (s = 0
only: no v choices, no swaps) is several times smaller. It is solved first; then the full model with two
extra rows, "at least two sets open" and "objective >= the one-set optimum + 1e-7", is relaxed to an LP.
When that LP is infeasible no plan with more sets can beat the one-set plan, which is then proven optimal.
Only otherwise is that restricted full model solved as a MILP; the better of the two plans is returned.
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


def serving_matrix(p: Problem) -> np.ndarray:
    """(D, K) bool: server k can serve mode d (pair allowed, context covers, fits alone)."""
    need = np.array([md.min_context for md in p.modes], dtype=np.int64).reshape(-1, 1)
    fits = (p.srv_mem <= p.budget_gib + 1e-9)[None, :]
    return p.allowed[:, p.srv_pair] & (p.srv_ctx[None, :] >= need) & fits


def undominated_servers(p: Problem, S: np.ndarray) -> np.ndarray:
    """(K,) bool: servers not dominated by another server of the same model (see the module docstring)."""
    K = len(p.srv_pair)
    keep = S.any(axis=0)
    model = p.pair_model[p.srv_pair]
    val = p.value[:, p.srv_pair]
    sw = p.swap_s[:, p.srv_pair]
    for m in np.unique(model[keep]):
        ks = np.nonzero((model == m) & keep)[0]
        if len(ks) < 2:
            continue
        s, v, w, mem = S[:, ks], val[:, ks], sw[:, ks], p.srv_mem[ks]
        # dom[a, b]: server a is at least as good as server b for every mode b serves
        ok = ~s[:, None, :] | (s[:, :, None] & (v[:, :, None] >= v[:, None, :] - 1e-12)
                               & (w[:, :, None] <= w[:, None, :] + 1e-12))
        dom = ok.all(axis=0) & (mem[:, None] <= mem[None, :] + 1e-12)
        np.fill_diagonal(dom, False)
        idx = np.arange(len(ks))
        # b is dropped if some a dominates it strictly, or both dominate each other and a comes first
        drop = (dom & (~dom.T | (idx[:, None] < idx[None, :]))).any(axis=0)
        keep[ks[drop]] = False
    _ = K
    return keep


def _build(p: Problem, S: np.ndarray, n_idx: int):
    """The MILP with set indices s < n_idx; n_idx = 1 keeps every server in one resident set (no swaps)."""
    D = len(p.modes)
    serves = [np.nonzero(S[d])[0].tolist() for d in range(D)]
    V, R = _Vars(), _Rows()
    pair_model = p.pair_model
    srv_model = pair_model[p.srv_pair]
    x: dict[tuple[int, int], int] = {}
    for d in range(D):
        for j in sorted({int(p.srv_pair[k]) for k in serves[d]}):
            x[d, j] = V.add(cost=-float(p.value[d, j]))
    used_k = sorted({k for d in range(D) for k in serves[d]})
    last = {k: min(n_idx - 1, max(d for d in range(D) if S[d, k])) for k in used_k}  # k may sit in sets s <= last[k]
    z = {(k, s): V.add(cost=p.mem_epsilon * float(p.srv_mem[k])) for k in used_k for s in range(last[k] + 1)}
    models = sorted({int(srv_model[k]) for k in used_k})
    k_of_m = {m: [k for k in used_k if srv_model[k] == m] for m in models}
    v = {(d, s): V.add(cost=(p.set_penalty if d == s else 0.0)) for d in range(D) for s in range(min(d, n_idx - 1) + 1)}

    u_col: dict[tuple[int, int], int] = {}
    for m in models:
        for s in range(max(last[k] for k in k_of_m[m]) + 1):
            u_col[m, s] = V.add()                                        # model m is in set s
            R.add({u_col[m, s]: 1.0, **{z[k, s]: -1.0 for k in k_of_m[m] if (k, s) in z}}, 0, 0)

    def u(m: int, s: int) -> dict[int, float]:
        return {u_col[m, s]: 1.0} if (m, s) in u_col else {}

    # one pair per mode
    for d in range(D):
        R.add({x[d, j]: 1.0 for (dd, j) in x if dd == d}, 1, 1)
    # a chosen pair needs a deployed server of it, covering the mode, in a set the mode may belong to (s <= d)
    for (d, j), col in x.items():
        terms = {col: 1.0}
        for k in serves[d]:
            if p.srv_pair[k] == j:
                for s in range(min(d, n_idx - 1) + 1):
                    terms[z[k, s]] = -1.0
        R.add(terms, -np.inf, 0)
    for m in models:
        R.add({u_col[m, s]: 1.0 for s in range(n_idx) if (m, s) in u_col}, -np.inf, 1)  # one server, one set
        for s in range(n_idx):
            terms = u(m, s)
            if terms:
                terms[v[s, s]] = -1.0
                R.add(terms, -np.inf, 0)                                 # only in an open set
    for s in range(n_idx):
        terms = {z[k, s]: float(p.srv_mem[k]) for k in used_k if (k, s) in z}
        terms[v[s, s]] = -p.budget_gib
        R.add(terms, -np.inf, 0)                                         # each set within the budget
    # mode d sits in the set of its model
    for d in range(D):
        R.add({v[d, s]: 1.0 for s in range(min(d, n_idx - 1) + 1)}, 1, 1)
        if n_idx == 1:
            continue
        js_by_m: dict[int, list[int]] = {}
        for (dd, j) in x:
            if dd == d:
                js_by_m.setdefault(int(pair_model[j]), []).append(j)
        for m, js in js_by_m.items():
            for s in range(n_idx):
                terms = u(m, s)
                if not terms:
                    continue
                terms.update({x[d, j]: 1.0 for j in js})
                if s <= d:
                    terms[v[d, s]] = -1.0
                R.add(terms, -np.inf, 1)     # x_dm + u_ms - 1 <= v_ds; a set s > d cannot hold d's model
        for s in range(min(d, n_idx)):
            terms = {v[d, s]: 1.0}
            for m in js_by_m:
                for col in u(m, s):
                    terms[col] = -1.0
            R.add(terms, -np.inf, 0)         # mode d joins set s only with one of its models
    for (a, b) in p.never:
        if a in k_of_m and b in k_of_m:
            for s in range(n_idx):
                terms = u(a, s)
                terms.update(u(b, s))
                if terms:
                    R.add(terms, -np.inf, 1)
    minmem = {(d, j): min(float(p.srv_mem[k]) for k in serves[d] if p.srv_pair[k] == j) for (d, j) in x}
    never = {frozenset(ab) for ab in p.never}
    # swaps between modes used together
    for (d1, d2, rate) in (p.pairs if n_idx > 1 else []):
        sw = V.add()
        L = 0.5 * (max(p.swap_s[d1, j] for (dd, j) in x if dd == d1) + max(p.swap_s[d2, j] for (dd, j) in x if dd == d2))
        c = V.add(cost=p.swap_weight * rate / 3600.0, lo=0.0, hi=max(L, 0.0), integer=False)
        for s in range(n_idx):
            terms = {sw: 1.0}
            if s <= d1:
                terms[v[d1, s]] = -1.0
            if s <= d2:
                terms[v[d2, s]] = terms.get(v[d2, s], 0.0) + 1.0
            R.add(terms, 0, np.inf)
        # valid cut: modes whose models cannot share a set (memory alone, or never together) always swap.
        # For the pair used by mode da, the pairs of mode db too big to sit beside it are a top-by-memory run
        # of db's pairs, summed once in a chain g (3 entries a row) instead of listed in every row.
        for (da, db) in ((d1, d2), (d2, d1)):
            jbs = sorted((j for (dd, j) in x if dd == db), key=lambda j: -minmem[db, j])
            g, prev = [], None
            for jb in jbs:
                col = V.add(lo=0.0, hi=1.0, integer=False)
                R.add({col: 1.0, x[db, jb]: -1.0, **({prev: -1.0} if prev is not None else {})}, 0, 0)
                g.append(col)
                prev = col
            for ja in (j for (dd, j) in x if dd == da):
                room = p.budget_gib + 1e-9 - minmem[da, ja]
                n = sum(1 for jb in jbs if minmem[db, jb] > room)
                terms = {sw: 1.0, x[da, ja]: -1.0}
                if n:
                    terms[g[n - 1]] = -1.0
                    for jb in jbs[:n]:
                        if pair_model[jb] == pair_model[ja]:
                            terms[x[db, jb]] = 1.0
                ma = int(pair_model[ja])
                for jb in jbs[n:]:
                    if frozenset((ma, int(pair_model[jb]))) in never:
                        terms[x[db, jb]] = -1.0
                if len(terms) > 2:
                    R.add(terms, -1, np.inf)
        terms = {c: 1.0, sw: -L}
        for (dd, j), col in x.items():
            if dd in (d1, d2):
                terms[col] = terms.get(col, 0.0) - 0.5 * float(p.swap_s[dd, j])
        R.add(terms, -L, np.inf)
    return V, R, x, z, v


def _run(V, R, extra=(), time_limit_s=60.0, relax=False):
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    rr, cc, vv, lb, ub = list(R.r), list(R.c), list(R.v), list(R.lb), list(R.ub)
    for terms, lo, hi in extra:
        i = len(lb)
        for col, val in terms.items():
            rr.append(i); cc.append(col); vv.append(val)
        lb.append(lo); ub.append(hi)
    A = csr_matrix((vv, (rr, cc)), shape=(len(lb), V.n))
    integ = np.zeros(V.n) if relax else np.array(V.integer)
    return milp(c=np.array(V.cost), integrality=integ, bounds=Bounds(V.lo, V.hi),
                constraints=LinearConstraint(A, lb, ub),
                options={"mip_rel_gap": 0.0, "time_limit": time_limit_s, "presolve": True})


def _plan(p: Problem, res, x, z) -> tuple[float, list[int], list[int], list[list[int]]]:
    sol = res.x
    D = len(p.modes)
    mode_pair = [next(j for (dd, j), col in x.items() if dd == d and sol[col] > 0.5) for d in range(D)]
    where = {k: s for (k, s), col in z.items() if sol[col] > 0.5}
    servers = sorted(where)
    sets = [members for s in range(D) if (members := [k for k in servers if where[k] == s])]
    return -float(res.fun), mode_pair, servers, sets


def solve(p: Problem, time_limit_s: float = 60.0) -> Solution:
    t0 = time.perf_counter()
    D = len(p.modes)
    S = serving_matrix(p)
    for d in range(D):
        if not S[d].any():
            return Solution("infeasible", None, [], [], [], reason=f"{p.modes[d].key}: no candidate meets its needs")
    S = S & undominated_servers(p, S)[None, :]
    V1, R1, x1, z1, _ = _build(p, S, 1)
    r1 = _run(V1, R1, time_limit_s=time_limit_s)
    one = _plan(p, r1, x1, z1) if r1.status == 0 else None
    V, R, x, z, v = _build(p, S, D)
    extra = []
    if one is not None:         # only plans with two sets or more that beat the one-set plan are left
        extra = [({v[s, s]: 1.0 for s in range(D)}, 2, np.inf),
                 ({i: -c for i, c in enumerate(V.cost) if c}, one[0] + 1e-7, np.inf)]
    status, best, proof = "optimal", one, "one set; LP: no plan with more sets is better"
    if one is None or _run(V, R, extra, relax=True).status != 2:
        r = _run(V, R, extra, time_limit_s=time_limit_s)
        if r.x is not None:
            best, proof = _plan(p, r, x, z), "MILP over every set count"
            status = "optimal" if r.status == 0 else "time_limit"
        elif r.status != 2:
            status, proof = "time_limit", f"solver: {r.message}"
        else:
            proof = "one set; MILP: no plan with more sets is better"
    dt = time.perf_counter() - t0
    if best is None:
        why = "no assignment keeps every policy within the budget" if status == "optimal" else proof
        return Solution("infeasible", None, [], [], [], reason=why, solve_s=dt, n_vars=V.n, n_cons=len(R.lb))
    obj, mode_pair, servers, sets = best
    return Solution(status, obj, mode_pair, servers, sets, solve_s=dt, n_vars=V.n, n_cons=len(R.lb), proof=proof)
