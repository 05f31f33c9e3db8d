"""The exact model: which pair serves each mode, which servers are deployed, and which resident set
(models loaded together) each deployed server belongs to.

Variables: x[d, j] = 1 when pair j serves mode d; z[k, s] = 1 when server k sits in set s; u[m, s] = 1 when
model m is in set s (one server per model, in one set); v[d, s] = 1 when mode d belongs to set s (set s is
open when v[s, s] = 1); sw[d1, d2] = 1 when two modes used together sit in different sets, and c[d1, d2]
the seconds such a swap costs. Constraints: each mode one pair; a chosen pair needs a deployed server of it
that covers the mode's context, in the mode's set; each set's servers within the budget (a plain knapsack
row, sum_k mem_k z[k, s] <= budget * v[s, s]); never-together models not in one set. Objective (maximized):
sum of values - set_penalty per open set - swap_weight x switches per hour x swap seconds - mem_epsilon x GiB.
On a cluster each set has one knapsack row per box (a split server holds memory on every box it spans);
the cuts below are drawn from the main box's row alone, so they stay valid.

Before the MILP, servers that can never be strictly needed are dropped (`undominated_servers`): a server
is dropped when another server of the same model uses no more memory, serves every mode it serves, with
at least the value and at most the swap time in each. Swapping one for the other keeps every rule (same
model, so the same sets and never-together pairs) and never lowers the objective, so the optimum is kept.

Resident sets use the representative formulation: set s may exist only if mode s is in it and is its
lowest-numbered mode, so no two labelings of the same partition are both feasible (symmetry broken), and a
server may sit in set s only if it serves some mode d >= s.

Set-count ladder (`solve`): most plans use one resident set, and the model restricted to one set (s = 0
only: no v choices, no swaps) is several times smaller. It is solved first. Then the split bound (up to 12
modes): a plan with t >= 2 sets splits the modes into t groups (those served by each set), and each set
with its group is a one-set plan for that group alone. So its objective is at most the sum over groups of
U(group), a bound on the group's one-set optimum (set penalty included), less the least swap cost of every
session pair the split cuts (swap weight x rate / 3600 x half the smallest swap seconds of either mode).
U(G) is the minimum of affine bounds r0 + sum_{d in G} pi[d], one per LP solved: the sum of the modes' best
values, then the LP duals of the one-set model for some group, which by weak duality bound every group
(`_GroupBound`); that LP carries valid knapsack cuts (at most t servers above budget / (t + 1); servers
above a >= budget / 2 exclude each other and one model's servers above budget - a). A subset DP over the
3^(D-1) (set, first group) pairs maximizes the bound over every split. While it exceeds the best plan, the
groups of the maximizing split get their LP, then their exact one-set MILP (its dual bound replaces U(G),
and when the groups' plans share no model, they make a multi-set plan, a new best). When the bound drops
below the best plan, that plan is optimal ("split bound" proof). Only when it cannot, the full model gets
two rows, "at least two sets open" and "objective >= the one-set optimum + 1e-7", and is relaxed to an LP,
then solved as a MILP unless that LP is infeasible; the better plan is returned.
"""

from __future__ import annotations

import functools
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

    def add(self, terms: dict[int, float] | list[tuple[int, float]], lb: float, ub: float) -> int:
        i = len(self.lb)
        items = terms.items() if isinstance(terms, dict) else terms
        for col, val in items:
            self.r.append(i)
            self.c.append(col)
            self.v.append(val)
        self.lb.append(lb)
        self.ub.append(ub)
        return i


def serving_matrix(p: Problem) -> np.ndarray:
    """(D, K) bool: server k can serve mode d (pair allowed, context covers, fits alone)."""
    need = np.array([md.min_context for md in p.modes], dtype=np.int64).reshape(-1, 1)
    fits = p.fits_alone()[None, :]
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
        other = p.mem_other()[ks]
        # dom[a, b]: server a is at least as good as server b for every mode b serves
        ok = ~s[:, None, :] | (s[:, :, None] & (v[:, :, None] >= v[:, None, :] - 1e-12)
                               & (w[:, :, None] <= w[:, None, :] + 1e-12))
        # and uses no more memory on any box
        dom = (ok.all(axis=0) & (mem[:, None] <= mem[None, :] + 1e-12)
               & (other[:, None, :] <= other[None, :, :] + 1e-12).all(axis=2))
        np.fill_diagonal(dom, False)
        idx = np.arange(len(ks))
        # b is dropped if some a dominates it strictly, or both dominate each other and a comes first
        drop = (dom & (~dom.T | (idx[:, None] < idx[None, :]))).any(axis=0)
        keep[ks[drop]] = False
    _ = K
    return keep


def _build(p: Problem, S: np.ndarray, n_idx: int, cuts: bool = False):
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
    gib = p.srv_mem + p.mem_other().sum(axis=1)          # on every box: a split server's whole footprint
    z = {(k, s): V.add(cost=p.mem_epsilon * float(gib[k])) for k in used_k for s in range(last[k] + 1)}
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
    mode_row = [R.add({x[d, j]: 1.0 for (dd, j) in x if dd == d}, 1, 1) for d in range(D)]
    link_row: dict[tuple[int, int], int] = {}
    # a chosen pair needs a deployed server of it, covering the mode, in a set the mode may belong to (s <= d)
    for (d, j), col in x.items():
        terms = {col: 1.0}
        for k in serves[d]:
            if p.srv_pair[k] == j:
                for s in range(min(d, n_idx - 1) + 1):
                    terms[z[k, s]] = -1.0
        link_row[d, j] = R.add(terms, -np.inf, 0)
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
        other, b_other = p.mem_other(), p.other_budgets()
        for b in range(other.shape[1]):                                  # and within each other box's (cluster)
            terms = {z[k, s]: float(other[k, b]) for k in used_k if (k, s) in z and other[k, b] > 0}
            if terms:
                terms[v[s, s]] = -float(b_other[b])
                R.add(terms, -np.inf, 0)
    if n_idx == 1 and cuts:     # valid cuts on the one set (they tighten its LP, which bounds the splits)
        B = p.budget_gib + 1e-6  # servers "conflict" only when together they exceed the budget by a margin
        for t in range(1, 32):  # at most t servers bigger than budget / (t + 1)
            big = [k for k in used_k if p.srv_mem[k] > B / (t + 1)]
            if len(big) > t:
                R.add({z[k, 0]: 1.0 for k in big}, -np.inf, t)
        for a in B * np.arange(0.5, 0.96, 0.025):
            # servers of at least a (> budget / 2) exclude each other and every server above budget - a: so
            # g_a (their count) plus model m's servers between budget - a and a is at most one
            top = [k for k in used_k if p.srv_mem[k] >= a]
            if not top:
                continue
            g = V.add(lo=0.0, hi=1.0, integer=False)
            R.add({g: 1.0, **{z[k, 0]: -1.0 for k in top}}, 0, 0)
            for m in models:
                mid = [k for k in k_of_m[m] if B - a < p.srv_mem[k] < a]
                if mid:
                    R.add({g: 1.0, **{z[k, 0]: 1.0 for k in mid}}, -np.inf, 1)
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
    minmem = {(d, j): min(float(p.srv_mem[k]) for k in serves[d] if p.srv_pair[k] == j)
              for (d, j) in x} if n_idx > 1 else {}
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
    V.rows = (mode_row, link_row)
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


class _Arrays:
    """A one-set model (from `_build`) as arrays, and its variant for a group of modes H: the modes outside H
    may go unserved and are worth nothing."""

    def __init__(self, V, R, x):
        from scipy.sparse import csr_matrix

        self.A = csr_matrix((R.v, (R.r, R.c)), shape=(len(R.lb), V.n))
        self.lb, self.ub, self.cost = np.array(R.lb, float), np.array(R.ub, float), np.array(V.cost)
        self.lo, self.hi, self.integer, self.x = np.array(V.lo), np.array(V.hi), np.array(V.integer), x
        self.mode_row, self.link_row = V.rows
        self.is_mode = np.zeros(len(self.lb), dtype=bool)
        self.is_mode[self.mode_row] = True
        self.is_x = np.zeros(V.n, dtype=bool)
        self.is_x[list(x.values())] = True
        # for linprog: equality rows, and the two sides of the others (mode rows too: [0, 1] outside a group)
        self.eq = (self.lb == self.ub) & ~self.is_mode
        self.up, self.lo_rows = ~self.eq & np.isfinite(self.ub), ~self.eq & np.isfinite(self.lb)
        self._A_ub, self._A_eq = None, None

    def lp_matrices(self):
        from scipy.sparse import vstack

        if self._A_ub is None:
            self._A_ub, self._A_eq = vstack([self.A[self.up], -self.A[self.lo_rows]]).tocsr(), self.A[self.eq]
        return self._A_ub, self._A_eq

    def group(self, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lb, cost = self.lb.copy(), self.cost.copy()
        for (d, j), col in self.x.items():
            if not H[d]:
                lb[self.mode_row[d]], cost[col] = 0.0, 0.0
        return lb, cost


class _GroupBound:
    """Upper bounds on the one-set value of any group of modes G (the best single resident set serving exactly
    the modes in G, penalty included), as the minimum of affine bounds r0 + sum_{d in G} pi[d].

    The first is r0 = -set_penalty, pi[d] = mode d's best value. The others come from LP duals of the one-set
    model in which the modes outside a group H may go unserved and are worth nothing: by weak duality, any row
    multipliers lam give  c.y >= sum_i h_i(lam_i) + sum_cols min(r lo, r hi),  r = c - A'lam, for every y of
    the model, whatever lam is (signs clipped to the row's side). Choosing the mode rows' multipliers afresh
    for the group at hand, pi[d] = max_j (value[d, j] + lam_link[d, j]) for modes in G and 0 outside, makes
    every x column's term vanish, so the bound is affine in the indicator of G and valid for every G.
    A group whose LP is infeasible cannot share one set, and nor can any larger group (`infeasible`)."""

    def __init__(self, p: Problem, S: np.ndarray, lp, mip):
        self.D, self.lp, self.mip = len(p.modes), _Arrays(*lp), _Arrays(*mip)
        best = [float(p.value[d, p.srv_pair[S[d]]].max()) for d in range(self.D)]
        self.r0, self.pi, self.infeasible = [-p.set_penalty], [np.array(best)], []
        self.exact_value: dict[int, float] = {}    # group mask -> its one-set MILP optimum
        self.seen: set[int] = set()                    # group masks whose LP was solved

    def exact(self, H: np.ndarray, time_limit_s: float):
        """Solve group H's one-set MILP exactly; keep its value as the bound of that one group. Returns the
        scipy result (None when infeasible)."""
        from scipy.optimize import Bounds, LinearConstraint, milp

        M = self.mip
        lb, cost = M.group(H)
        res = milp(c=cost, integrality=M.integer, bounds=Bounds(M.lo, M.hi), constraints=LinearConstraint(M.A, lb, M.ub),
                   options={"mip_rel_gap": 0.0, "time_limit": time_limit_s, "presolve": True})
        if res.status == 2:
            self.infeasible.append(H)
            return None
        if res.status != 0:
            raise RuntimeError(res.message)
        # the solver's dual bound, not its plan's value: an upper bound even within its absolute gap
        self.exact_value[int(sum(1 << d for d in range(self.D) if H[d]))] = -float(res.mip_dual_bound)
        return res

    def add(self, H: np.ndarray) -> None:
        """Solve the LP of group H (bool per mode) and keep its bound."""
        from scipy.optimize import linprog

        M = self.lp
        lb, cost = M.group(H)
        eq, up, lo = M.eq, M.up, M.lo_rows
        A_ub, A_eq = M.lp_matrices()
        res = linprog(cost, A_ub=A_ub, b_ub=np.r_[M.ub[up], -lb[lo]], A_eq=A_eq, b_eq=lb[eq],
                      bounds=np.c_[M.lo, M.hi], method="highs")
        if res.status == 2:
            self.infeasible.append(H)
            return
        if res.status != 0:
            raise RuntimeError(res.message)
        lam = np.zeros(len(lb))
        lam[eq] = res.eqlin.marginals
        mu, n_up = res.ineqlin.marginals, int(up.sum())
        lam[up] += mu[:n_up]
        lam[lo] -= mu[n_up:]
        lam = np.where(np.isfinite(M.lb), lam, np.minimum(lam, 0.0))     # signs clipped to the row's side
        lam = np.where(np.isfinite(M.ub), lam, np.maximum(lam, 0.0))
        r = M.cost - M.A.T @ lam
        h = np.where(lam > 0, lam * np.where(lam > 0, M.lb, 0.0), lam * np.where(lam < 0, M.ub, 0.0))
        c0 = h[~M.is_mode].sum() + np.minimum(r * M.lo, r * M.hi)[~M.is_x].sum()
        pi = np.full(self.D, -np.inf)
        for (d, j), col in M.x.items():
            pi[d] = max(pi[d], -M.cost[col] + lam[M.link_row[d, j]])
        self.r0.append(-float(c0))
        self.pi.append(pi)

    def table(self) -> np.ndarray:
        """(2^D,) the bound for every group, as a bit mask over modes."""
        masks, bits, _ = _masks(self.D)
        U = (bits @ np.array(self.pi).T + np.array(self.r0)).min(axis=1)
        for H in self.infeasible:
            h = int(sum(1 << d for d in range(self.D) if H[d]))
            U[(masks & h) == h] = -np.inf
        for h, val in self.exact_value.items():
            U[h] = min(U[h], val)
        return U


@functools.lru_cache(maxsize=4)
def _masks(D: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every mode mask, its (2^D, D) bits and its size."""
    masks = np.arange(1 << D)
    bits = ((masks[:, None] >> np.arange(D)) & 1).astype(float)
    return masks, bits, bits.sum(axis=1).astype(int)


@functools.lru_cache(maxsize=4)
def _splits(D: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (S, G): G a subset of mode mask S holding S's lowest mode, sorted by the size of S."""
    ss, gs = [], []
    for S in range(1, 1 << D):
        low = S & -S
        rest = sub = S ^ low
        while True:
            ss.append(S)
            gs.append(sub | low)
            if sub == 0:
                break
            sub = (sub - 1) & rest
    s, g = np.array(ss), np.array(gs)
    order = np.argsort([bin(S).count("1") for S in ss], kind="stable")
    return s[order], g[order]


def _split_bound(p: Problem, S: np.ndarray, U: np.ndarray) -> tuple[float, list[int]]:
    """The best bound over plans with two sets or more: max over partitions of the modes into >= 2 groups of
    sum U(group) - the least swap cost of the session pairs the partition cuts (each cut pair costs at least
    swap_weight x rate / 3600 x half the smallest swap seconds of each side). Subset DP over 3^(D-1) splits.
    Returns the bound and the maximizing partition (group masks)."""
    D = len(p.modes)
    n = 1 << D
    masks = np.arange(n)
    inner = np.zeros(n)                                  # least swap cost of the session pairs inside a mask
    for d1, d2, rate in p.pairs:
        w = p.swap_weight * rate / 3600.0 * 0.5 * (float(p.swap_s[d1, p.srv_pair[S[d1]]].min())
                                                    + float(p.swap_s[d2, p.srv_pair[S[d2]]].min()))
        inner[((masks >> d1) & 1 == 1) & ((masks >> d2) & 1 == 1)] += max(w, 0.0)
    s, g = _splits(D)
    rest = s ^ g
    gain = U[g] - (inner[s] - inner[g] - inner[rest])   # group G's bound less the pairs it cuts from S \ G
    f = np.full(n, -np.inf)                              # f[S]: the best bound over partitions of S
    f[0] = 0.0
    pc = _masks(D)[2]
    cut = np.searchsorted(pc[s], np.arange(1, D + 2))
    for L in range(1, D + 1):                            # by size, so S \ G is done before S
        a, b = cut[L - 1], cut[L]
        np.maximum.at(f, s[a:b], gain[a:b] + f[rest[a:b]])

    def best_g(Sm: int, multi: bool) -> tuple[float, int]:
        sel = np.nonzero((s == Sm) & ((g != Sm) if multi else True))[0]
        vals = gain[sel] + f[rest[sel]]
        i = int(np.argmax(vals))
        return float(vals[i]), int(g[sel[i]])

    top, G = best_g(n - 1, True)
    part, left = [G], (n - 1) ^ G
    while left:
        _, G = best_g(left, False)
        part.append(G)
        left ^= G
    return top, part


def _compose(p: Problem, part: list[int], plans: dict[int, tuple | None]):
    """The plan made of one resident set per group of a split, each group's one-set optimum, if the groups use
    no model twice; its objective is their values less the swaps of the session pairs the split cuts."""
    if any(plans.get(G) is None for G in part):
        return None
    mode_pair, sets = [-1] * len(p.modes), []
    obj, seen_m = 0.0, set()
    for G in part:
        val, mp, servers, _ = plans[G]
        ms = {int(p.pair_model[p.srv_pair[k]]) for k in servers}
        if ms & seen_m:
            return None
        seen_m |= ms
        obj += val
        sets.append(servers)
        for d in range(len(p.modes)):
            if (G >> d) & 1:
                mode_pair[d] = mp[d]
    group = {d: i for i, G in enumerate(part) for d in range(len(p.modes)) if (G >> d) & 1}
    for d1, d2, rate in p.pairs:
        if group[d1] != group[d2]:
            obj -= p.swap_weight * rate / 3600.0 * 0.5 * (p.swap_s[d1, mode_pair[d1]] + p.swap_s[d2, mode_pair[d2]])
    return obj, mode_pair, sorted(k for s in sets for k in s), sets


def _plan(p: Problem, res, x, z) -> tuple[float, list[int], list[int], list[list[int]]]:
    sol = res.x
    D = len(p.modes)
    mode_pair = [next((j for (dd, j), col in x.items() if dd == d and sol[col] > 0.5), -1) for d in range(D)]
    where = {k: s for (k, s), col in z.items() if sol[col] > 0.5}
    servers = sorted(where)
    sets = [members for s in range(D) if (members := [k for k in servers if where[k] == s])]
    return -float(res.fun), mode_pair, servers, sets


def _split_rung(p: Problem, S, one, V1, R1, x1, z1, time_limit_s):
    """Prove a plan optimal against every plan with two sets or more, by the split bound (module docstring).
    Returns (plan, proof), or None when the bound stays above the best plan found."""
    D = len(p.modes)
    Vc, Rc, xc, _, _ = _build(p, S, 1, cuts=True)
    gb, best = _GroupBound(p, S, (Vc, Rc, xc), (V1, R1, x1)), one
    plans: dict[int, tuple | None] = {}
    while True:
        top, part = _split_bound(p, S, gb.table())
        if top < best[0] + 1e-7:
            sets = "one set" if best is one else f"{len(best[3])} sets"
            return best, (f"{sets}; split bound ({len(gb.seen)} group LPs, {len(gb.exact_value)} group MILPs): "
                          "no plan with other sets is better")
        bits = {G: np.array([(G >> d) & 1 for d in range(D)], dtype=bool) for G in part}
        if new := [G for G in part if G not in gb.seen]:
            for G in new:       # bound the best split's groups by their LPs
                gb.seen.add(G)
                gb.add(bits[G])
        elif new := [G for G in part if G not in plans]:
            for G in new:       # then by their exact one-set optima, and try the split itself as a plan
                res = gb.exact(bits[G], time_limit_s)
                plans[G] = None if res is None else _plan(p, res, x1, z1)
            if (cand := _compose(p, part, plans)) is not None and cand[0] > best[0]:
                best = cand
        else:
            return None         # every group of the best split is at its exact value: the bound cannot fall


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
    if one is not None and D == 1:
        return _solution("optimal", one, "one mode, one set", t0, V1, R1)
    if one is not None and D <= 12:
        try:
            done = _split_rung(p, S, one, V1, R1, x1, z1, time_limit_s)
        except RuntimeError:    # an LP or group MILP the solver could not finish: the full model decides
            done = None
        if done is not None:
            return _solution("optimal", done[0], done[1], t0, V1, R1)
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
    if best is None:
        why = "no assignment keeps every policy within the budget" if status == "optimal" else proof
        return Solution("infeasible", None, [], [], [], reason=why, solve_s=time.perf_counter() - t0, n_vars=V.n,
                        n_cons=len(R.lb))
    return _solution(status, best, proof, t0, V, R)


def _solution(status, best, proof, t0, V, R) -> Solution:
    obj, mode_pair, servers, sets = best
    return Solution(status, obj, mode_pair, servers, sets, solve_s=time.perf_counter() - t0, n_vars=V.n,
                    n_cons=len(R.lb), proof=proof)
