"""`vtt calibrate --quick` end to end on the CPU backend: real test-backend-ops and llama-bench, a real
DuckDB, a calibration that `vtt plan` then uses."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vtt.cli.app import app

pytestmark = pytest.mark.e2e


def test_quick_calibration_measures_fits_and_becomes_plans_default(tmp_path, llama_bench, tiny_gguf, monkeypatch):
    from vtt.calibrate import quick

    # the designed set at CI scale: one tiny model, shallow depths (the GPU set uses 4K-16K)
    monkeypatch.setattr(quick, "QUICK_RUNS", [(0, 1, (0, 256)), (0, 0, (256,))])
    monkeypatch.setattr(quick, "REPETITIONS", 2)
    monkeypatch.setenv("VTT_LLAMA_BENCH", llama_bench)
    db = tmp_path / "q.duckdb"
    r = CliRunner().invoke(app, ["calibrate", "--quick", "--hardware", "strix-halo-128", "--backend", "cpu",
                                 "--db", str(db), "--quick-model", str(tiny_gguf), "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.splitlines()[-1])
    cal = out["calibration"]
    # every quick row is fitted or named as skipped (unsteady on a busy CI machine)
    assert cal["n_points"] >= 1 and cal["n_points"] + len(cal["residual_stats"]["rows_skipped"]) == 6
    assert out["operators"]["supported"] >= 7
    assert cal["builds"] == "commit 0c1e570"  # the pinned source tree has no build numbers
    assert cal["residual_stats"]["prior"] == "physics-default"
    assert "bw_eff" in cal["param_names"] and len(cal["covariance"]) == len(cal["param_names"])
    assert out["bench_s"] < 600
    plan = CliRunner().invoke(app, ["plan", str(tiny_gguf), "--hardware", "strix-halo-128", "--backend", "cpu",
                                    "--json"], catch_exceptions=False)
    assert json.loads(plan.output)["calibration"] == cal["id"]
