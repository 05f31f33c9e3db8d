"""`vtt runs` on a fresh install, and drift(...) as a library call that the CLI only renders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from vtt.cli.runs import list_runs
from vtt.drift.api import DriftResult, drift
from vtt.errors import BadQuery

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "llama_bench"


def _vtt(*args, env_home=None):
    import os

    env = dict(os.environ)
    if env_home:
        env["XDG_DATA_HOME"] = str(env_home)
    return subprocess.run([sys.executable, "-m", "vtt.cli", *args], capture_output=True, text=True, timeout=120, env=env)


def test_runs_on_a_fresh_install_lists_nothing_and_exits_0(tmp_path):
    r = _vtt("runs", "--json", env_home=tmp_path / "xdg")  # the default database does not exist
    assert (r.returncode, json.loads(r.stdout)) == (0, []), r.stderr
    assert not (tmp_path / "xdg" / "vtt" / "vtt.duckdb").exists()  # listing creates nothing
    r = _vtt("runs", "--db", str(tmp_path / "missing.duckdb"))
    assert r.returncode == 0 and "vtt: error" not in r.stderr


def test_runs_on_an_empty_database_lists_nothing(tmp_path):
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()  # a DuckDB file with no vtt tables
    assert list_runs(empty) == []
    r = _vtt("runs", "--db", str(empty), "--json")
    assert (r.returncode, json.loads(r.stdout)) == (0, []), r.stderr


def test_runs_lists_what_was_ingested(tmp_path):
    db = tmp_path / "v.duckdb"
    assert _vtt("ingest", str(FIXTURES / "cpu.sql"), "--db", str(db), "--label", "a").returncode == 0
    (run,) = list_runs(db)
    assert run["label"] == "a" and run["results"]["ok"] == 2


def test_drift_returns_verdicts_without_printing(tmp_path, capsys):
    db = tmp_path / "v.duckdb"
    assert _vtt("ingest", str(FIXTURES / "cpu_pp64_tg16.jsonl"), "--db", str(db), "--label", "base").returncode == 0
    result = drift("base", "base", db)
    assert isinstance(result, DriftResult) and not result.regressed
    assert result.report.verdicts and {v.verdict for v in result.report.verdicts} <= {"no_change", "not_significant", "insufficient_samples"}
    assert result.to_dict()["baseline"]["label"] == "base" and "against_prediction" not in result.to_dict()
    assert capsys.readouterr().out == ""
    cli = _vtt("drift", "--db", str(db), "--baseline", "base", "--candidate", "base", "--json")
    assert cli.returncode == 0 and json.loads(cli.stdout) == json.loads(json.dumps(result.to_dict(), default=str))


@pytest.mark.parametrize("kw", [{"alpha": 0.0}, {"min_effect": -0.1}, {"across": ("colour",)}])
def test_drift_refuses_bad_thresholds(tmp_path, kw):
    with pytest.raises(BadQuery):
        drift("a", "b", tmp_path / "v.duckdb", **kw)
