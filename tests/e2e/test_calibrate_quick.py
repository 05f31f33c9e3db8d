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

    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from gguf_models import tiny_arch
    from vtt.gguf.write import write_random_gguf

    # the designed set at CI scale: a tiny Llama and a tiny MLA model (deepseek2: the 576-wide latent,
    # one KV head, as the quick set's GLM-4.7-Flash cell), shallow depths (the GPU set uses 4K-16K)
    mla = write_random_gguf(tiny_arch("deepseek2", n_embd=512, n_vocab=4096), tmp_path / "tiny-mla-q4_0.gguf",
                            weight_type="q4_0")
    monkeypatch.setattr(quick, "QUICK_RUNS", [(0, 1, (0, 256)), (0, 0, (256,)), (1, 1, (256,))])
    # the product's 3 repetitions (quick.REPETITIONS), not 2: with two samples a busy CI box pushed every
    # row's spread past MAX_SAMPLE_SPREAD once (a fresh-clone run beside another suite), and nothing was left to fit
    monkeypatch.setenv("VTT_LLAMA_BENCH", llama_bench)
    db = tmp_path / "q.duckdb"
    r = CliRunner().invoke(app, ["calibrate", "--quick", "--hardware", "strix-halo-128", "--backend", "cpu",
                                 "--db", str(db), "--quick-model", str(tiny_gguf), "--quick-model", str(mla), "--json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.splitlines()[-1])
    cal = out["calibration"]
    # every quick row is fitted or named as skipped (unsteady on a busy CI machine), none unresolved
    skipped = cal["residual_stats"]["rows_skipped"]
    assert cal["n_points"] >= 1 and cal["n_points"] + len(skipped) == 8
    assert all(s.startswith("unstable") for s in skipped), skipped
    # the calibration records the cells its fitted rows cover: each row in one cell, on the CPU path;
    # the MLA rows in their own kind and width at their depth
    cells = cal["coverage"]
    assert sum(c["n"] for c in cells) == cal["n_points"] and {c["path"] for c in cells} == {"cpu"}
    fitted_mla = cal["n_points"] - sum(c["n"] for c in cells if c["kind"] != "MLA")
    assert fitted_mla == sum(c["n"] for c in cells if (c["kind"], c["head_width"], c["depth_band"]) == ("MLA", 576, "0<d<=8K"))
    if any(c["kind"] == "MLA" and c["test"] == "pp" for c in cells):
        assert "fa_hw2" in cal["param_names"]  # the latent's prefill at depth beside Llama's: the head-width law
    assert out["operators"]["supported"] >= 7
    assert cal["builds"] == "commit 0c1e570"  # the pinned source tree has no build numbers
    assert cal["residual_stats"]["prior"] == "physics-default"
    assert "bw_eff" in cal["param_names"] and len(cal["covariance"]) == len(cal["param_names"])
    assert out["bench_s"] < 600
    plan = CliRunner().invoke(app, ["plan", str(tiny_gguf), "--hardware", "strix-halo-128", "--backend", "cpu",
                                    "--json"], catch_exceptions=False)
    assert json.loads(plan.output)["calibration"] == cal["id"]
