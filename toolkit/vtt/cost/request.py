"""One request as a user sees it, composed from the llama-bench-level terms.

A request has C cached tokens (a prefix already in the KV cache: system prompt, earlier turns),
P new prompt tokens and O output tokens. llama-server then:
  - prefills the P new tokens at depth C (the time to first token):  llama-bench -p P -d C
  - decodes O tokens, the i-th with C + P + i cells in the cache:   sum_i t_decode(C + P + i)
The generation sum is taken at the depths where it happens, not at depth 0 or C: after a 150K
prompt a token costs far more than after an empty one (issue 10).

Pure: numpy arrays in, numpy arrays out, over the queries of one model group.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vtt.cost import throughput

# Gauss-Legendre nodes on [-1, 1]. t_decode(p) is linear in p except where a sliding window caps
# the attended cells (one kink), so 5 nodes are exact on the linear part and close across the kink.
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(5)


def gen_seconds(f: throughput.SpeedFeatures, params: dict, start, n_tokens) -> np.ndarray:
    """Seconds to decode `n_tokens`, the first at position `start`: sum over i < n of t(start + i),
    as the integral of t over [start - 1/2, start + n - 1/2] (the midpoint rule, exact for linear t)."""
    start = np.asarray(start, dtype=float)
    n = np.asarray(n_tokens, dtype=float)
    lo = start - 0.5
    half = n / 2.0
    total = np.zeros(np.broadcast(start, n).shape)
    for x, w in zip(_NODES, _WEIGHTS):
        total = total + w * throughput.decode_time_s(f, params, lo + half * (x + 1.0))
    return np.where(n > 0, total * half, 0.0)


def request_features(f: throughput.SpeedFeatures, cached, prompt, output) -> tuple:
    """(prefill features: -p P -d C, generation features: -n O -d C+P) from one feature set."""
    c = np.asarray(cached, dtype=float)
    p = np.asarray(prompt, dtype=float)
    o = np.asarray(output, dtype=float)
    return replace(f, depth=c, n_prompt=p, n_gen=o), replace(f, depth=c + p, n_gen=o)


def request_times(f_gen: throughput.SpeedFeatures, params: dict, sp_prefill: dict, sp_gen: dict) -> dict:
    """TTFT, generation and end-to-end seconds with 90 % intervals.

    `sp_prefill` and `sp_gen` are predict_speed outputs for request_features' two feature sets:
    TTFT is the prefill at depth C as it is; the generation interval takes the relative spread
    of tg at the request's mean generation depth. The end-to-end interval adds the bounds, as if
    the two errors moved together (they share the bandwidth and compute efficiencies), so it is
    the wider, safer of the two ways to combine them.
    """
    o = np.asarray(f_gen.n_gen, dtype=float)
    start = np.asarray(f_gen.depth, dtype=float)
    gen = gen_seconds(f_gen, params, start, o)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel_lo = np.where(sp_gen["tg_hi"] > 0, sp_gen["tg_tps"] / sp_gen["tg_hi"], 1.0)
        rel_hi = np.where(sp_gen["tg_lo"] > 0, sp_gen["tg_tps"] / sp_gen["tg_lo"], 1.0)
        tg_mean = np.where(gen > 0, o / np.where(gen > 0, gen, 1.0), np.nan)
    ttft, ttft_lo, ttft_hi = sp_prefill["ttft_s"], sp_prefill["ttft_lo"], sp_prefill["ttft_hi"]
    gen_lo, gen_hi = gen * rel_lo, gen * rel_hi
    return {
        "ttft_s": ttft, "ttft_lo": ttft_lo, "ttft_hi": ttft_hi,
        "gen_s": gen, "gen_lo": gen_lo, "gen_hi": gen_hi,
        "e2e_s": ttft + gen, "e2e_lo": ttft_lo + gen_lo, "e2e_hi": ttft_hi + gen_hi,
        # the request's mean generation rate (= llama-bench -n O -d C+P) and its interval
        "tg_tps": tg_mean, "tg_lo": tg_mean * np.where(rel_hi > 0, 1 / rel_hi, 1.0),
        "tg_hi": tg_mean * np.where(rel_lo > 0, 1 / rel_lo, 1.0),
    }
