"""Serve drift on synthetic request rows: slower decode and longer TTFT are regressions."""

from __future__ import annotations

import numpy as np

from vtt.drift.serve import compare_serve_runs, request_group


def _rows(decode, ttft, n=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rows.append({"request_key": f"ask#{i % 3}" + (f"@{i // 3}" if i >= 3 else ""), "status": "ok",
                     "decode_tps": decode * (1 + rng.normal(0, 0.02)), "ttft_s": ttft * (1 + rng.normal(0, 0.02))})
    return rows


def test_first_sends_and_repeats_are_separate_groups():
    assert request_group({"request_key": "ask#0"}) == ("ask", "first")
    assert request_group({"request_key": "ask#0@2"}) == ("ask", "repeat")
    assert request_group({"request_key": "ask#1"}) == ("ask", "repeat")


def test_slower_decode_and_longer_ttft_are_regressions():
    rep = compare_serve_runs(_rows(20, 0.5, n=40), _rows(15, 1.0, n=40, seed=1))
    by = {(v.key["cache"], v.key["metric"]): v for v in rep.verdicts}
    assert by[("repeat", "decode_tps")].verdict == "regression"
    assert by[("repeat", "ttft_s")].verdict == "regression"
    assert abs(by[("repeat", "ttft_s")].candidate_tps - 1.0) < 0.1  # shown in seconds
    assert rep.regressed


def test_same_speed_is_not_a_regression_and_soak_leak_is():
    rep = compare_serve_runs(_rows(20, 0.5, n=40), _rows(20, 0.5, n=40, seed=2),
                             base_soak={"leak": False, "verdict": "ok", "rss_mib_per_h": {"slope": 1, "n": 9}},
                             cand_soak={"leak": True, "verdict": "leak", "rss_mib_per_h": {"slope": 900, "n": 9}})
    assert all(v.verdict != "regression" for v in rep.verdicts if v.key.get("metric") != "rss_mib_per_h")
    assert [v.verdict for v in rep.verdicts if v.key.get("metric") == "rss_mib_per_h"] == ["regression"]
