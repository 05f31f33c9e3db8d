"""Drift on synthetic truth: a real 10% slowdown is flagged, noise and tiny shifts are not."""

from __future__ import annotations

import numpy as np
import pytest

from vtt.drift.compare import bench_test_name, compare_runs, compare_samples, min_two_sided_p, sample_tps
from vtt.drift.vs_prediction import check_against_prediction


def rows(tps: np.ndarray, n_gen: int = 128, **fields) -> list[dict]:
    samples_ns = [int(1e9 * n_gen / t) for t in tps]
    return [{"model_filename": "/m/a.gguf", "n_prompt": 0, "n_gen": n_gen, "n_depth": 0, "n_threads": 4,
             "samples_ns": samples_ns, **fields}]


def noisy(rng, mean: float, n: int = 20, cv: float = 0.03) -> np.ndarray:
    return rng.normal(mean, mean * cv, n)


def test_a_ten_percent_slowdown_is_a_regression():
    rng = np.random.default_rng(1)
    report = compare_runs(rows(noisy(rng, 100.0)), rows(noisy(rng, 90.0)))
    (v,) = report.verdicts
    assert v.verdict == "regression" and report.regressed
    assert v.change == pytest.approx(-0.10, abs=0.03)


def test_a_ten_percent_speedup_is_an_improvement_not_a_regression():
    rng = np.random.default_rng(2)
    report = compare_runs(rows(noisy(rng, 100.0)), rows(noisy(rng, 110.0)))
    assert report.verdicts[0].verdict == "improvement" and not report.regressed


def test_pure_noise_is_never_flagged():
    rng = np.random.default_rng(3)
    flagged = sum(compare_runs(rows(noisy(rng, 100.0)), rows(noisy(rng, 100.0))).regressed for _ in range(50))
    assert flagged == 0


def test_significant_change_below_the_floor_is_no_change():
    rng = np.random.default_rng(4)
    report = compare_runs(rows(noisy(rng, 100.0, 200, 0.002)), rows(noisy(rng, 98.0, 200, 0.002)), min_effect=0.05)
    assert report.verdicts[0].verdict == "no_change"


def test_three_plus_three_samples_say_they_are_insufficient():
    verdict, reason, _, _ = compare_samples([1, 2, 3], [10, 11, 12], min_effect=0.05, alpha=0.01)
    assert verdict == "insufficient_samples" and "rerun with more repetitions" in reason
    assert min_two_sided_p(5, 5) < 0.01 < min_two_sided_p(4, 4)


def test_identical_runs_are_not_significant():
    same = rows(np.array([100.0, 101, 99, 100, 102]))
    assert compare_runs(same, same).verdicts[0].verdict == "not_significant"


def test_threads_are_shown_as_a_difference_not_part_of_the_key():
    rng = np.random.default_rng(5)
    report = compare_runs(rows(noisy(rng, 100.0), n_threads=2), rows(noisy(rng, 60.0), n_threads=1))
    (v,) = report.verdicts
    assert v.differences["n_threads"] == ["2", "1"] and v.verdict == "regression"


def test_different_tests_do_not_match():
    report = compare_runs(rows(np.array([1.0] * 5), n_gen=128), rows(np.array([1.0] * 5), n_gen=64))
    assert report.verdicts == [] and report.only_baseline == ["tg128"] and report.only_candidate == ["tg64"]


def test_sample_tps_uses_tokens_over_nanoseconds_and_names_follow_llama_bench():
    row = {"n_prompt": 512, "n_gen": 0, "n_depth": 4096, "samples_ns": [1_000_000_000]}
    assert sample_tps(row) == [512.0]
    assert bench_test_name(row) == "pp512 @ d4096"
    assert sample_tps({"n_prompt": 0, "n_gen": 128, "avg_ts": 40.0}) == [40.0]


def test_check_against_prediction_uses_the_given_callable():
    measured = rows(np.array([100.0] * 5))
    inside = check_against_prediction(measured, lambda row: (95.0, 80.0, 110.0))
    below = check_against_prediction(measured, lambda row: (150.0, 120.0, 180.0))
    assert inside[0].verdict == "within" and below[0].verdict == "slower_than_predicted"
