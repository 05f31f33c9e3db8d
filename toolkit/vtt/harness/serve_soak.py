"""Soak (seed test 8): many mixed mode requests against one server; leaks and slowdowns by trend.

A leak is an RSS (or device memory) slope whose whole 95% confidence interval lies above a threshold
in MiB per hour; a slowdown is a decode tokens/s slope whose whole interval lies below minus a
threshold in percent per hour. Both significant *and* big (the asv/pyperf rule in style.md), so a
noisy short run says "inconclusive" rather than crying wolf. The first pass through the workload
is a warm-up (prompt cache and KV pages filling) and is left out of both trends: its requests decode
on an empty prompt cache, 1.3-2x faster than the later passes of the CPU smoke soak, which read as a
20-45 % "slowdown" over a one-second run.
"""

from __future__ import annotations

import math
from pathlib import Path

MIB = 1024 * 1024
DEFAULT_LEAK_MIB_PER_H = 64.0
DEFAULT_SLOWDOWN_PCT_PER_H = 10.0
# A leak must also have grown this much over the analysed span: allocator and page-cache settling
# adds a few hundred KiB in the first minutes, which a seconds-long run would extrapolate to
# hundreds of MiB per hour (measured: +0.33 MiB in 3 s on the CPU test model).
DEFAULT_MIN_GROWTH_MIB = 16.0
# A slowdown must also have lost this much decode speed over the analysed span, for the same reason:
# a seconds-long run on a busy 2-core machine drifts a few % (another process, clocks), which the
# per-hour slope turns into thousands of % per hour (CI: 'slowdown' on a 12-request smoke soak).
DEFAULT_MIN_SLOWDOWN_PCT = 10.0


def trend(t: list[float], y: list[float], confidence: float = 0.95) -> dict | None:
    """Least-squares slope of y over t with its two-sided confidence interval (Student t)."""
    from scipy import stats

    pts = [(a, b) for a, b in zip(t, y) if a is not None and b is not None]
    if len(pts) < 3 or len({a for a, _ in pts}) < 2:
        return None
    xs, ys = zip(*pts)
    fit = stats.linregress(xs, ys)
    half = stats.t.ppf(0.5 + confidence / 2, len(pts) - 2) * fit.stderr if math.isfinite(fit.stderr) else math.inf
    return {"slope": fit.slope, "lo": fit.slope - half, "hi": fit.slope + half, "n": len(pts),
            "span_s": max(xs) - min(xs), "intercept": fit.intercept}


def judge_rise(tr: dict | None, threshold: float, grown: float | None = None, min_growth: float = 0.0) -> str:
    """'leak' when the whole interval is above the threshold (and the fitted growth `grown` reached
    `min_growth`), 'ok' when it is below the threshold, else 'inconclusive'."""
    if tr is None:
        return "inconclusive"
    if tr["lo"] > threshold:
        return "leak" if grown is None or grown >= min_growth else "inconclusive"
    if tr["hi"] < threshold:
        return "ok"
    return "inconclusive"


def analyse_soak(samples: list[dict], requests: list[dict], *, warmup_s: float,
                 leak_mib_per_h: float = DEFAULT_LEAK_MIB_PER_H,
                 slowdown_pct_per_h: float = DEFAULT_SLOWDOWN_PCT_PER_H,
                 min_growth_mib: float = DEFAULT_MIN_GROWTH_MIB,
                 min_slowdown_pct: float = DEFAULT_MIN_SLOWDOWN_PCT) -> dict:
    """Pure: memory and speed trends from stored samples and request rows."""
    after = [s for s in samples if s["t_s"] >= warmup_s]
    out: dict = {"warmup_s": round(warmup_s, 3), "thresholds": {"leak_mib_per_h": leak_mib_per_h,
                                                                 "slowdown_pct_per_h": slowdown_pct_per_h,
                                                                 "min_growth_mib": min_growth_mib,
                                                                 "min_slowdown_pct": min_slowdown_pct}}
    verdicts = []
    for kind, key in (("rss", "rss_bytes"), ("gpu", "gpu_bytes")):
        tr = trend([s["t_s"] for s in after], [s[key] / MIB if s[key] is not None else None for s in after])
        if tr is None:
            continue
        per_h = {k: tr[k] * 3600 for k in ("slope", "lo", "hi")}  # MiB/s -> MiB/h
        grown = tr["slope"] * tr["span_s"]
        v = judge_rise(per_h, leak_mib_per_h, grown, min_growth_mib)
        out[f"{kind}_mib_per_h"] = {**{k: round(x, 3) for k, x in per_h.items()}, "n": tr["n"],
                                    "span_s": round(tr["span_s"], 1), "grown_mib": round(grown, 3), "verdict": v}
        verdicts.append(v)
    ok = [r for r in requests if r.get("status") == "ok" and r.get("decode_tps") and r.get("t_start_s") is not None
          and r["t_start_s"] >= warmup_s]
    by_id: dict[str, list[float]] = {}
    for r in ok:
        by_id.setdefault(r["request"], []).append(r["decode_tps"])
    means = {k: sum(v) / len(v) for k, v in by_id.items()}
    rel = [(r["t_start_s"], 100.0 * (r["decode_tps"] / means[r["request"]] - 1)) for r in ok]
    tr = trend([a for a, _ in rel], [b for _, b in rel])
    if tr is not None:
        per_h = {k: tr[k] * 3600 for k in ("slope", "lo", "hi")}  # %/s -> %/h
        # a slowdown is a fall: mirror it so judge_rise's "whole interval past the threshold" applies
        fell = -tr["slope"] * tr["span_s"]  # % of decode speed lost over the analysed span
        v = judge_rise({"lo": -per_h["hi"], "hi": -per_h["lo"]}, slowdown_pct_per_h, fell, min_slowdown_pct)
        out["decode_tps_pct_per_h"] = {**{k: round(x, 3) for k, x in per_h.items()}, "n": tr["n"],
                                       "fell_pct": round(fell, 3), "verdict": {"leak": "slowdown"}.get(v, v)}
    mem = [out[k]["verdict"] for k in ("rss_mib_per_h", "gpu_mib_per_h") if k in out]
    out["leak"] = "leak" in mem
    out["slowdown"] = out.get("decode_tps_pct_per_h", {}).get("verdict") == "slowdown"
    out["verdict"] = "leak" if out["leak"] else "slowdown" if out["slowdown"] else \
        ("ok" if mem and all(v == "ok" for v in mem) else "inconclusive")
    return out


def run_soak(model: str | Path, workload, *, label: str, db=None, runtime=None, requests: int | None = None,
             minutes: float | None = None, leak_mib_per_h: float = DEFAULT_LEAK_MIB_PER_H,
             slowdown_pct_per_h: float = DEFAULT_SLOWDOWN_PCT_PER_H, on_request=None, **serve_kw) -> dict:
    from vtt import store
    from vtt.harness.serve import run_serve
    from vtt.store import serve_records

    per_cycle = len(workload.expanded())
    if requests is None and minutes is None:
        requests = 4 * per_cycle
    cycles = math.ceil(requests / per_cycle) if requests else 10 ** 6
    summary = run_serve(model, workload, label=label, db=db, runtime=runtime, cycles=cycles, max_requests=requests,
                        max_seconds=minutes * 60 if minutes else None, on_request=on_request, kind="soak", **serve_kw)
    with store.open_store(summary.db) as s:
        rows = serve_records.requests(s, run_id=summary.run_id, status=None)
        samples = serve_records.samples(s, summary.run_id)
        # warm-up: everything before the second pass through the workload (or the first quarter)
        second = [r["t_start_s"] for r in rows if "@1" in r["request_key"].split("#")[-1] and r["t_start_s"] is not None]
        span = max((x["t_s"] for x in samples), default=0.0)
        warmup = min(second) if second else span / 4
        result = analyse_soak(samples, rows, warmup_s=warmup, leak_mib_per_h=leak_mib_per_h,
                              slowdown_pct_per_h=slowdown_pct_per_h)
        result.update(requests=len(rows), requests_ok=summary.requests_ok, status=summary.status)
        serve_records.add_summary(s, summary.run_id, "soak", result["verdict"], result)
    return {"serve": summary.to_dict(), "soak": result}
