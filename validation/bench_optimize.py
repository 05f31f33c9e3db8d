"""Benchmark the optimizer: a synthetic 50 models x 10 quants x 8 contexts x 12 modes problem, solved to
optimality (mip_rel_gap 0), plus the real catalog end to end. Writes validation/bench_optimize.md.
Each synthetic problem is solved --repeat times in one process (after one untimed warm-up solve that fills
the split tables' caches); the table gives the median and the max.

Run: .venv/bin/python validation/bench_optimize.py [--seeds 6] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from vtt.optimize.candidates import mode_reqs, mode_value
from vtt.optimize.milp import solve
from vtt.optimize.problem import Problem
from vtt.specs.catalog import default_world
from vtt.specs.mode import load_modes
from vtt.specs.policy import load_policies

BPW = [8.5, 6.56, 5.5, 5.0, 4.85, 4.5, 4.25, 3.9, 3.4, 2.6]        # ten quants
CTX = [4096, 8192, 16384, 32768, 65536, 131072, 196608, 262144]   # eight contexts


def synthetic(seed: int, budget: float, modes, pairs, never_n: int = 5) -> tuple[Problem, int]:
    rng = np.random.default_rng(seed)
    n_models = 50
    total_b = rng.uniform(3, 240, n_models)
    active_b = np.minimum(total_b, rng.choice([3, 5, 10, 12, 22, 32, 70], n_models))
    kv_gib_per_tok = rng.uniform(2e-5, 2.5e-4, n_models)
    score = np.where(rng.random(n_models) < 0.7, rng.uniform(0.2, 0.75, n_models), np.nan)
    pair_model, pair_quant, quality = [], [], []
    srv_pair, srv_ctx, srv_mem, srv_load = [], [], [], []
    D, J = len(modes), n_models * len(BPW)
    value = np.zeros((D, J)); allowed = np.ones((D, J), dtype=bool); swap_s = np.zeros((D, J))
    for m in range(n_models):
        for qi, bpw in enumerate(BPW):
            j = len(pair_model)
            pair_model.append(m); pair_quant.append(f"q{qi}")
            qf = 1 - 0.1 * (8.5 - bpw) ** 2 / 10
            quality.append(score[m] * qf)
            weights = total_b[m] * bpw / 8 * 1e9 / 2**30
            tg = 215e9 * 0.6 / (active_b[m] * bpw / 8 * 1e9)
            for c in CTX:
                srv_pair.append(j); srv_ctx.append(c); srv_mem.append(weights + kv_gib_per_tok[m] * c + 1.0)
                srv_load.append(weights * 2**30 / 5e9)
            for d, md in enumerate(modes):
                pp = 60 * tg * (1 - md.depth / 400000)
                ttft = md.n_prompt / pp
                q = 0.0 if np.isnan(quality[j]) else quality[j]
                value[d, j] = mode_value(md, q, tg, ttft)
                allowed[d, j] = tg >= md.min_tg_tps and ttft <= md.max_ttft_s and not (
                    np.isnan(quality[j]) and md.w_quality >= 0.5)
                swap_s[d, j] = srv_load[-1] + md.depth / pp
    srv_pair = np.array(srv_pair); srv_ctx = np.array(srv_ctx); srv_mem = np.array(srv_mem)
    raw = len(srv_pair)
    # the same dominance pruning as candidates.build_catalogue: smallest covering context per distinct need
    keep = np.zeros(raw, dtype=bool)
    for j in range(J):
        ks = np.nonzero(srv_pair == j)[0]
        for n in sorted({md.min_context for md in modes}):
            cover = [k for k in ks if srv_ctx[k] >= n]
            if cover:
                keep[min(cover, key=lambda k: srv_ctx[k])] = True
    keep &= srv_mem <= budget
    never = [tuple(rng.choice(n_models, 2, replace=False)) for _ in range(never_n)]
    p = Problem(modes=modes, models=[f"m{i}" for i in range(n_models)], pair_model=np.array(pair_model),
                pair_quant=pair_quant, quality=np.array(quality), srv_pair=srv_pair[keep], srv_ctx=srv_ctx[keep],
                srv_mem=srv_mem[keep], srv_load_s=np.array(srv_load)[keep], value=value, allowed=allowed,
                swap_s=swap_s, pairs=pairs, never=[(int(a), int(b)) for a, b in never], budget_gib=budget,
                set_penalty=0.01, swap_weight=1.0)
    return p, raw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    args = ap.parse_args()
    w = default_world()
    eds = load_modes(w.roots)
    pol = load_policies([w.roots[0] / "policies"], w)
    modes, pairs = mode_reqs(eds, pol)
    rows = []
    t0 = time.perf_counter()
    solve(synthetic(0, 118.0, modes, pairs)[0])
    warm = time.perf_counter() - t0
    for budget in (118.0, 58.0):
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            p, raw = synthetic(seed, budget, modes, pairs)
            t1 = time.perf_counter()
            times = []
            for _ in range(args.repeat):
                t2 = time.perf_counter()
                sol = solve(p)
                times.append(time.perf_counter() - t2)
            rows.append((budget, seed, raw, len(p.srv_pair), sol.n_vars, sol.n_cons, sol.proof or sol.status, len(sol.sets),
                         t1 - t0, statistics.median(times), max(times), sol.objective))
    # real catalog, end to end (cost-model pricing of every candidate + MILP)
    from vtt.optimize.assign import optimize

    e2e = []
    for b in (128, 64):
        t0 = time.perf_counter()
        plan = optimize(w, eds, pol, hardware="strix-halo-128", budget_gib=b)
        e2e.append((b, time.perf_counter() - t0, plan.stats, len(plan.resident_sets)))
    lines = [
        "# vtt optimize: benchmark", "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"scipy.optimize.milp (HiGHS), mip_rel_gap = 0 (proven optimal); load average at the end "
        f"{os.getloadavg()[0]:.1f} (other work on the same cores stretches wall times).", "",
        "## Synthetic: 50 models x 10 quants x 8 contexts x 12 modes (4,000 servers, 6,000 mode x pair values)", "",
        "Build = synthetic pricing + dominance pruning (a context that is not the smallest covering one of some",
        "mode's need only adds memory, since speed depends on depth, not on the allocated context); solve = the",
        f"whole ladder, {args.repeat} solves each (median, max); MILP vars/rows = the last model the ladder solved.",
        f"Untimed warm-up solve first (a cold process's first solve: {warm:.2f} s, imports and split tables).", "",
        "| budget GiB | seed | servers raw | servers kept | MILP vars | MILP rows | proven by | sets | objective | build s "
        "| solve s median | solve s max |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| " + " | ".join([f"{r[0]:g}", str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), r[6],
                                         str(r[7]), f"{r[11]:.6f}", f"{r[8]:.3f}", f"{r[9]:.3f}", f"{r[10]:.3f}"]) + " |")
    lines.append("")
    for b in (118.0, 58.0):
        med = [r[9] for r in rows if r[0] == b]
        mx = [r[10] for r in rows if r[0] == b]
        lines.append(f"Solve time at {b:g} GiB: median of medians {statistics.median(med):.3f} s, "
                     f"max {max(mx):.3f} s over {len(med)} seeds x {args.repeat}.")
    lines += ["",
              "## Real catalog end to end (`optimize()`: request-level pricing of every candidate with the cost model + MILP)", "",
              "The first row is a cold call (every (model, quant) weight profile walks the model's tensors); later "
              "calls in the process reuse them (optimize/price.py resolve_catalog_model).", "",
              "| budget GiB | total s | queries priced | pairs | servers | MILP vars | MILP rows | solve s | proven by | sets |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for b, dt, st, ns in e2e:
        lines.append(f"| {b} | {dt:.2f} | {st['queries_priced']} | {st['pairs']} | {st['servers']} | {st['milp_vars']} | "
                     f"{st['milp_rows']} | {st['solve_s']:.3f} | {st.get('proof', '')} | {ns} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
