"""Drift between two serve runs: decode t/s and TTFT per request, and the soak memory slope.

Requests are matched on (request id, first send or repeat): a repeat finds at least its system
prefix in the server's prompt cache, the first send may not. The per-request values of each side are the
samples; the test is the same Mann-Whitney U plus effect floor as llama-bench drift (compare.py).
TTFT is lower-is-better, so it is compared as its inverse (a rate), keeping "slower = regression".
Pure: rows in, verdicts out.
"""

from __future__ import annotations

from pathlib import Path

from vtt.drift.compare import DriftReport, DriftVerdict, compare_samples


def request_group(row: dict) -> tuple[str, str]:
    key = row["request_key"]
    rid, _, rest = key.partition("#")
    return rid, ("first" if rest == "0" else "repeat")


def _values(rows: list[dict], metric: str) -> list[float]:
    out = []
    for r in rows:
        v = r.get(metric)
        if v is None or v <= 0:
            continue
        out.append(1.0 / v if metric == "ttft_s" else float(v))
    return out


def compare_serve_runs(baseline: list[dict], candidate: list[dict], *, min_effect: float = 0.05, alpha: float = 0.01,
                       base_soak: dict | None = None, cand_soak: dict | None = None) -> DriftReport:
    groups: dict[tuple, tuple[list, list]] = {}
    for side, rows in ((0, baseline), (1, candidate)):
        for r in rows:
            if r.get("status") == "ok":
                groups.setdefault(request_group(r), ([], []))[side].append(r)
    verdicts, only_b, only_c = [], [], []
    for (rid, temp), (b, c) in sorted(groups.items()):
        name = f"{rid} ({temp})"
        if not b:
            only_c.append(name)
            continue
        if not c:
            only_b.append(name)
            continue
        for metric, label in (("decode_tps", "decode t/s"), ("ttft_s", "TTFT (as 1/s)")):
            bv, cv = _values(b, metric), _values(c, metric)
            verdict, reason, change, p = compare_samples(bv, cv, min_effect=min_effect, alpha=alpha)
            med = lambda xs: sorted(xs)[len(xs) // 2] if xs else None  # noqa: E731
            bm, cm = med(bv), med(cv)
            if metric == "ttft_s":  # show seconds, keep the rate's verdict
                bm, cm = (1 / bm if bm else None), (1 / cm if cm else None)
            verdicts.append(DriftVerdict(test=f"{name} {label}", key={"request": rid, "cache": temp, "metric": metric},
                                         baseline_tps=bm, candidate_tps=cm, change=change, p_value=p,
                                         n_baseline=len(bv), n_candidate=len(cv), verdict=verdict, reason=reason))
    if base_soak and cand_soak:
        b = (base_soak.get("rss_mib_per_h") or {})
        c = (cand_soak.get("rss_mib_per_h") or {})
        if cand_soak.get("leak") and not base_soak.get("leak"):
            v, why = "regression", "the candidate's soak found a leak, the baseline's did not"
        elif base_soak.get("leak") and not cand_soak.get("leak"):
            v, why = "improvement", "the baseline leaked, the candidate does not"
        else:
            v, why = "no_change", f"soak verdicts {base_soak.get('verdict')} -> {cand_soak.get('verdict')}"
        verdicts.append(DriftVerdict(test="soak RSS slope (MiB/h)", key={"metric": "rss_mib_per_h"},
                                     baseline_tps=b.get("slope"), candidate_tps=c.get("slope"), change=None,
                                     p_value=None, n_baseline=b.get("n", 0), n_candidate=c.get("n", 0),
                                     verdict=v, reason=why))
    return DriftReport(verdicts=verdicts, only_baseline=only_b, only_candidate=only_c, min_effect=min_effect,
                       alpha=alpha)


def check_serve_against_prediction(rows: list[dict], run: dict) -> list:
    """Each stored request against `vtt plan` for the same model file, context, cached depth, new
    prompt and output tokens (hardware/backend as recorded with `vtt bench serve --hardware/--backend`):
    TTFT (seconds, lower is better) and decode t/s inside vtt's interval?"""
    from vtt.drift.vs_prediction import PredictionCheck
    from vtt.plan import plan_many

    params = run.get("params") or {}
    model = params.get("model")
    ok = [r for r in rows if r.get("status") == "ok" and r.get("prompt_tokens")]
    if not model or not ok:
        return []
    queries = []
    for r in ok:
        depth = int(r.get("cached_tokens") or 0)
        n_prompt = max(1, int(r["prompt_tokens"]) - depth)
        q = {"model": model, "context": max(int(r.get("n_ctx") or params.get("n_ctx") or 0), depth + n_prompt),
             "depth": depth, "n_prompt": n_prompt, "n_gen": int(r.get("output_tokens") or 1)}
        for key in ("runtime", "hardware", "backend"):
            value = params.get(key) if key == "runtime" else run.get(key)
            if value:
                q[key] = value
        queries.append(q)
    checks = []
    for r, a in zip(ok, plan_many(queries)):
        if "error" in a:
            continue
        name = Path(model).name
        for metric, pred, iv, lower_better in (("ttft_s", a["ttft_s"], a["ttft_s_interval"], True),
                                               ("decode_tps", a["tg_tps"], a["tg_tps_interval"], False)):
            m = r.get(metric)
            if m is None:
                continue
            lo, hi = iv
            if lo <= m <= hi:
                verdict = "within"
            elif (m > hi) == lower_better:
                verdict = "slower_than_predicted"
            else:
                verdict = "faster_than_predicted"
            checks.append(PredictionCheck(f"{r['request_key']} {metric}", name, float(m), float(pred), float(lo),
                                          float(hi), m / pred - 1.0 if pred else float("nan"), verdict))
    return checks
