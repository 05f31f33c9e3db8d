"""validation/public_heldout: the held-out logs parse into the committed rows.csv, and score.py answers
for them. Not an accuracy threshold: the report says how far off vtt is; this checks the pipeline."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIR = ROOT / "validation" / "public_heldout"


@pytest.fixture(scope="module")
def score():
    spec = importlib.util.spec_from_file_location("public_heldout_score", DIR / "score.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_logs_parse_into_the_committed_rows(score):
    from vtt.specs.catalog import default_world

    rows = score.parse_logs((DIR / "logs.txt").read_text()) + score.parse_points((DIR / "points.csv").read_text())
    score.resolve_catalog_ids(rows, default_world())
    committed = score.read_rows(DIR / "rows.csv")
    assert len(rows) == len(committed) > 0
    for r, c in zip(rows, committed):
        for k in score.COLUMNS:
            assert (r[k] if r[k] is not None else None) == c[k], (k, r["source_url"])
    assert all(c["catalog_id"] for c in committed)
    assert {c["backend"] for c in committed} == {"rocm", "vulkan-radv", "vulkan-amdvlk"}
    assert all(c["test"] in ("pp", "tg") and (c["n_prompt"] > 0) != (c["n_gen"] > 0) for c in committed)
    assert all(c["source_url"].startswith("https://github.com/kyuz0/amd-strix-halo-toolboxes/blob/") for c in committed)


def test_no_held_out_model_file_is_in_the_calibration_csv():
    import csv

    from vtt.resources import calibration_csv

    with open(calibration_csv(), newline="") as fh:
        calibrated = {r["model"] for r in csv.DictReader(fh)}
    with open(DIR / "rows.csv", newline="") as fh:
        held_out = {r["model_file"] for r in csv.DictReader(fh)}
    assert held_out and not (held_out & calibrated)


def test_a_log_row_reads_as_llama_bench_wrote_it(score):
    text = ("=== benchmark/results/X-Q8_0__rocm7_rc-rocwmma__hblt0__fa1.log @ " + "a" * 40 + "\n"
            "| model | size | params | backend | ngl | fa | mmap | test | t/s |\n"
            "| --- | ---: | ---: | --- | --: | -: | ---: | --: | ---: |\n"
            "| llama 8B Q8_0 |   7.95 GiB |     8.03 B | ROCm | 99 | 1 | 0 | pp512 @ d4096 | 812.50 ± 3.10 |\n"
            "| llama 8B Q8_0 |   7.95 GiB |     8.03 B | ROCm | 99 | 1 | 0 | tg128 | 25.00 ± 0.01 |\n"
            "build: abc (6486)\n")
    pp, tg = score.parse_logs(text)
    assert (pp["backend"], pp["backend_detail"], pp["flash_attn"], pp["build"]) == ("rocm", "rocm7_rc-rocwmma hblt0", 1, 6486)
    assert (pp["n_prompt"], pp["n_gen"], pp["n_depth"], pp["tps"], pp["tps_sd"]) == (512, 0, 4096, 812.5, 3.1)
    assert (tg["n_prompt"], tg["n_gen"], tg["n_depth"], tg["tps"]) == (0, 128, 0, 25.0)
    assert pp["quant"] == "Q8_0" and pp["file_size_gib"] == 7.95 and pp["n_ubatch"] == 512
    with pytest.raises(ValueError, match="fa column"):
        score.parse_logs(text.replace("__fa1.log", ".log"))


def test_score_answers_a_handful_of_rows_with_finite_predictions(score):
    rows = score.read_rows(DIR / "rows.csv")
    # one row of each backend x test x era
    picked = {}
    for r in rows:
        picked.setdefault((r["backend"], r["test"], r["build"] < score.CALIBRATED_FROM_BUILD), r)
    scored = score.score(list(picked.values()))
    assert len(scored) == 10
    for s in scored:
        assert s["pred_tps"] is not None and math.isfinite(s["pred_tps"]) and s["pred_tps"] > 0
        assert 0 < s["lo"] <= s["pred_tps"] <= s["hi"]
        # a 2025 build is older than any calibration row, a DeepSeek-V4 row an architecture none has:
        # vtt must say so either way
        assert s["extrapolated"] is True
        if s["build"] < score.CALIBRATED_FROM_BUILD:
            assert any("build b" in w for w in s["warnings"])
    text = score.report(scored, [])
    assert "Nothing was fitted" in text and "| backend test |" in text


def test_the_committed_report_is_current(score):
    """As tests/unit/test_reports_current.py: a change that moves these held-out numbers must
    regenerate REPORT.md (`.venv/bin/python validation/public_heldout/score.py`). Not a target."""
    scored = score.score(score.read_rows(DIR / "rows.csv"))
    fresh = score.report(scored, [])
    committed = (DIR / "REPORT.md").read_text()

    def summary(text):
        return [x for x in text.splitlines() if x.startswith(("| rocm ", "| vulkan-"))]

    assert summary(fresh) and summary(fresh) == summary(committed)
