"""`vtt calibrate` and `vtt report` through the CLI (CliRunner)."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtt.cli.app import app

CSV = Path(__file__).resolve().parents[2] / "validation" / "data" / "strix_halo_calibration.csv"
runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path


def test_calibrate_from_csv_exports_yaml_that_plan_then_uses(tmp_path):
    r = runner.invoke(app, ["calibrate", "--backend", "vulkan-amdvlk", "--since", "b7000", "--csv", str(CSV),
                            "--db", str(tmp_path / "v.duckdb"), "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    cal = out["calibration"]
    assert cal["builds"].startswith("b7") and cal["n_points"] > 50
    assert "leave_family_out" in cal["residual_stats"] and out["saved_to_store"] is not None
    assert Path(out["yaml"]).is_file()
    plan = runner.invoke(app, ["plan", "llama-2-7b", "-q", "Q4_0", "--backend", "vulkan-amdvlk", "--json"], catch_exceptions=False)
    assert json.loads(plan.output)["calibration"] == cal["id"]
    lst = runner.invoke(app, ["calibrate", "--list", "--backend", "vulkan-amdvlk", "--json"], catch_exceptions=False)
    ids = [json.loads(x)["id"] for x in lst.output.splitlines()]
    assert ids[0] == cal["id"] and "strix-halo-128--vulkan-amdvlk--public-2026" in ids


def test_calibrate_needs_a_backend():
    r = runner.invoke(app, ["calibrate"])
    assert r.exit_code != 0


def test_calibrate_rejects_a_bad_since():
    from vtt.errors import BadQuery

    r = runner.invoke(app, ["calibrate", "--backend", "rocm", "--since", "soon"])
    assert isinstance(r.exception, BadQuery) and "bad --since: 'soon'" in r.exception.message


def test_calibrate_without_a_database_says_how_to_record_results(tmp_path):
    from vtt.errors import VttError

    r = runner.invoke(app, ["calibrate", "--backend", "rocm", "--db", str(tmp_path / "none.duckdb")])
    assert isinstance(r.exception, VttError) and r.exception.code == "no_database"


ROCM_CSV = Path(os.environ.get("VTT_PUBLIC_CSV", str(CSV)))


@pytest.mark.skipif(not ROCM_CSV.exists(), reason="public CSV not present")
def test_calibrate_fits_rocm_kernel_eras_apart_and_plan_picks_by_build(tmp_path):
    from vtt.calibration import find_calibration
    from vtt.specs.catalog import default_world

    r = runner.invoke(app, ["calibrate", "--backend", "rocm", "--since", "b7000", "--csv", str(ROCM_CSV), "--json"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    old, new = out["eras"]
    assert old["builds"].startswith("b7938") and new["builds"].startswith("b9187")
    assert out["calibration"]["id"] == new["id"]  # the summary and the default: the newest era
    w = default_world()
    assert find_calibration(w.roots, "strix-halo-128", "rocm").id == new["id"]
    old_cal = find_calibration(w.roots, "strix-halo-128", "rocm", build=8038)
    assert old_cal.id == old["id"]
    # only attention terms differ between the eras: WMMA flash attention got faster after b9187
    new_cal = find_calibration(w.roots, "strix-halo-128", "rocm", build="b9500")
    assert new_cal.params["attn_pp_eff"] > 1.3 * old_cal.params["attn_pp_eff"]
    assert new_cal.params["ce_q8"] == old_cal.params["ce_q8"]


def test_calibrate_says_it_left_rows_of_forks_out(tmp_path):
    """Rows of a fork (kyuz0's vulkan-radv-performance toolbox) describe another program: vtt calibrate
    does not fit them, and with nothing else to fit says why."""
    from vtt.errors import VttError

    head = CSV.read_text().splitlines()[0]
    forks = [x for x in CSV.read_text().splitlines() if "llama-vulkan-radv-performance" in x]
    p = tmp_path / "forks.csv"
    p.write_text("\n".join([head, *forks]) + "\n")
    r = runner.invoke(app, ["calibrate", "--backend", "vulkan-radv", "--csv", str(p), "--db", str(tmp_path / "v.duckdb")])
    assert isinstance(r.exception, VttError) and r.exception.code == "no_data"
    assert f"{len(forks)} rows of llama.cpp forks or patched builds are not fitted" in r.exception.message
