"""Prefill attention at depth from this machine's measured flash-attention rate (`vtt bench ops --profile depth`).

vtt charges attention linearly in the attended cells: one rate at every KV length. The kernel does not
always keep it. On Strix Halo, stock llama.cpp on RADV prefills Qwen3.6-27B at depth 64K at a fifth of the
attention rate it has at 4K, Qwen3.6-35B-A3B from ~36K on at half, and ROCm at every depth at the same rate
(validation/report_notes.md `## depth-knee`); no head geometry tells the onset, and on the H200 the shader RADV
runs keeps its rate to 64K (validation/fa_depth). So the shape is the machine's, and it is measured, not
fitted: test-backend-ops times FLASH_ATTN_EXT alone at a model's attention geometry (head widths, query and KV
heads) and KV lengths 4K-64K. Vidur's idea: profile the operator, and let the simulator read the profile.

What carries from an operator timed alone to the same operator inside llama-bench is the *ratio* between KV
lengths of one geometry (vtt.calibrate.ops_fit says why absolute rates do not). A curve is that ratio:
`slowdown[i]` = seconds per FLOP at `n_kv[i]` over seconds per FLOP at the shortest length (1 there).
A prompt's full-attention layers (attention math and KV re-reads) are charged their linear time times the
curve averaged over the cells its tokens attend, weighted by those cells (token i of a prompt at depth d
attends d + i of them). Below the shortest length the curve is 1; past the longest it keeps its last value
(vtt.cost.coverage flags an answer deeper than the rows). Geometries without a curve keep the linear charge.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

N_KV = (4096, 8192, 16384, 32768, 65536)  # the depth profile's KV lengths (vtt.harness.ops)
N_Q = 512  # its query rows: llama.cpp's default ubatch
MIN_LENGTHS = 3  # fewer KV lengths than this say nothing about a shape (the quick profile has 2)
_POINTS = 32  # midpoint rule over the prompt's tokens: the curve is piecewise linear, this is well inside 1 %


def geometry_key(d_k, d_v, n_head, n_head_kv) -> str:
    """'256/256/24/4': FLASH_ATTN_EXT's K width, V width, query heads, KV heads."""
    return f"{int(d_k)}/{int(d_v)}/{int(n_head)}/{int(n_head_kv)}"


def curves_from_ops(rows: list[dict]) -> list[dict]:
    """Depth curves from operator rows: prefill-shaped FLASH_ATTN_EXT (n_q > 1), per geometry from one run
    (`run_id`; rows without one count as one run): the run x query width with the most KV lengths (at least
    MIN_LENGTHS), then the width nearest N_Q, then the latest run; the median rate of repeated rows. One
    run, because runs on other days differ by a few % at every length (clocks, drivers), and a ratio
    between one run's 4K and another's 64K would carry that as depth."""
    rates: dict[tuple, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    last: dict[tuple, int] = {}
    for i, r in enumerate(rows):
        d = r.get("shape") or {}
        if r.get("op") != "FLASH_ATTN_EXT" or d.get("n_q", 0) <= 1 or not r.get("flops_s"):
            continue
        if str(d.get("kv_type", "f16")) != "f16":  # llama.cpp's default cache; a quantized one is another kernel
            continue
        g = (geometry_key(d["d_k"], d["d_v"], d["n_head"], d["n_head_kv"]), int(d["n_q"]), str(r.get("run_id")))
        rates[g][int(d["n_kv"])].append(float(r["flops_s"]))
        last[g] = i
    best: dict[str, tuple] = {}
    for g, by_kv in rates.items():
        rank = (len(by_kv), -abs(g[1] - N_Q), last[g])
        if len(by_kv) >= MIN_LENGTHS and (g[0] not in best or rank > best[g[0]][0]):
            best[g[0]] = (rank, g[1], by_kv)
    out = []
    for key, (_, n_q, by_kv) in sorted(best.items()):
        kvs = sorted(by_kv)
        rate = np.array([np.median(by_kv[k]) for k in kvs])
        out.append({"geometry": key, "n_q": n_q, "n_kv": kvs,
                    "slowdown": [round(float(x), 4) for x in rate[0] / rate]})
    return out


def slowdown(curve: dict, depth, n_prompt) -> np.ndarray:
    """The prompt's full-attention time over its linear time under `curve` (1: the rate of the shortest length)."""
    d = np.atleast_1d(np.asarray(depth, dtype=float))
    n = np.atleast_1d(np.asarray(n_prompt, dtype=float))
    t = (np.arange(_POINTS) + 0.5) / _POINTS
    cells = d[:, None] + t[None, :] * n[:, None]  # cells attended at evenly spaced prompt positions
    kv = np.asarray(curve["n_kv"], dtype=float)
    s = np.asarray(curve["slowdown"], dtype=float)
    r = np.interp(cells, kv, s, left=s[0], right=s[-1])
    w = np.maximum(cells, 1e-9)
    return np.sum(w * r, axis=1) / np.sum(w, axis=1)


def attach(f, curves: list[dict] | None):
    """`f` (SpeedFeatures) with `attn_depth` set where a curve has its geometry; unchanged without curves."""
    if not curves or f.fa_geometry is None or not len(f):
        return f
    from dataclasses import replace

    by_key = {c["geometry"]: c for c in curves}
    mult = np.ones(len(f))
    for key in set(f.fa_geometry.tolist()):
        if key in by_key:
            m = np.asarray(f.fa_geometry == key)
            mult[m] = slowdown(by_key[key], f.depth[m], f.n_prompt[m])
    if np.all(mult == 1.0) and f.attn_depth is None:
        return f
    return replace(f, attn_depth=mult)
