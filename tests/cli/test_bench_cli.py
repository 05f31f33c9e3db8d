"""CLI surface of bench/drift/ingest/runs: help that teaches, exact error lines, --json keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtt.cli.app import app
from vtt.errors import VttError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "llama_bench"
runner = CliRunner()


def invoke(*args: str):
    """Like `vtt.cli.app.main`: a VttError becomes its exit code and one error line."""
    try:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, ""
    except VttError as e:
        return e.exit_code, "", f"vtt: error: {e.message}"


@pytest.mark.parametrize("command", [["bench", "install"], ["bench", "run"], ["drift"], ["ingest"], ["runs"]])
def test_every_command_has_help_with_an_example(command):
    code, out, _ = invoke(*command, "--help")
    assert code == 0 and "Example:" in out and "vtt " in out


def test_drift_unknown_label_is_bad_input(tmp_path):
    db = str(tmp_path / "v.duckdb")
    invoke("ingest", str(FIXTURES / "cpu.csv"), "--db", db, "--label", "base")
    code, _, err = invoke("drift", "--db", db, "--baseline", "base", "--candidate", "nope")
    assert (code, err) == (2, "vtt: error: unknown run or label 'nope'")


def test_drift_json_keys_and_self_comparison_exits_0(tmp_path):
    db = str(tmp_path / "v.duckdb")
    invoke("ingest", str(FIXTURES / "cpu_pp64_tg16.jsonl"), "--db", db, "--label", "base")
    code, out, _ = invoke("drift", "--db", db, "--baseline", "base", "--candidate", "base", "--json")
    data = json.loads(out)
    assert code == 0 and set(data) >= {"regressed", "verdicts", "baseline", "candidate", "min_effect", "alpha"}
    assert set(data["verdicts"][0]) >= {"test", "baseline_tps", "candidate_tps", "change", "p_value", "verdict"}


def test_ingest_json_summary_keys(tmp_path):
    code, out, _ = invoke("ingest", str(FIXTURES / "cpu.sql"), "--db", str(tmp_path / "v.duckdb"), "--json")
    (entry,) = json.loads(out)
    assert code == 0 and entry["format"] == "sql" and entry["added"] == 2


def test_bench_run_without_models_says_what_to_give(tmp_path):
    code, _, err = invoke("bench", "run", "--db", str(tmp_path / "v.duckdb"))
    assert (code, err) == (2, "vtt: error: nothing to run: give -m MODEL.gguf or --matrix FILE")


def test_bench_run_bad_list_value_names_the_flag(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    code, _, err = invoke("bench", "run", "-m", str(tmp_path / "m.gguf"), "-t", "two")
    assert (code, err) == (2, "vtt: error: bad value for -t: 'two' (want integers like 1,2,4)")


def test_malformed_matrix_names_file_line_and_field(tmp_path):
    matrix = tmp_path / "bad.yaml"
    matrix.write_text("models: [a.gguf]\nn_prompt: [512]\nrepetitions: lots\n")
    code, _, err = invoke("bench", "run", "--matrix", str(matrix))
    assert code == 2 and err.startswith(f"vtt: error: {matrix}:3: field 'repetitions':")


def test_drift_on_missing_database_says_so(tmp_path):
    code, _, err = invoke("drift", "--db", str(tmp_path / "none.duckdb"), "--baseline", "a", "--candidate", "b")
    assert (code, err) == (2, f"vtt: error: no vtt database at {tmp_path / 'none.duckdb'}")


def test_cli_commands_do_not_import_heavy_modules_at_start():
    code = ("import sys, vtt.cli.app; heavy = [m for m in ('duckdb', 'scipy', 'rich') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
