"""The DuckDB store: migrations, round trips, calibrations, and the one-writer lock."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vtt import store
from vtt.errors import EnvironmentProblem, VttError
from vtt.store.schema import MIGRATIONS

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "llama_bench"


def golden_record() -> dict:
    return json.loads((FIXTURES / "cpu_pp64_tg16.jsonl").read_text().splitlines()[0])


def test_migrations_run_once_and_set_schema_version(tmp_path):
    db = tmp_path / "v.duckdb"
    with store.open_store(db) as s:
        assert s.schema_version == len(MIGRATIONS)
    with store.open_store(db) as s:  # reopening applies nothing twice
        names = [r[0] for r in s.execute("SELECT name FROM vtt_migrations").fetchall()]
        assert names == [name for name, _ in MIGRATIONS]


def test_result_round_trip_keeps_every_field_and_sample(tmp_path):
    record = golden_record() | {"brand_new_field": "x"}
    with store.open_store(tmp_path / "v.duckdb") as s:
        run_id = store.add_run(s, "base")
        rid = store.add_result(s, run_id, record, cell_key="k1")
        store.add_memory_peak(s, rid, "rss", 123_456_789, "wait4")
        (row,) = store.results(s, label="base")
        assert row["avg_ts"] == pytest.approx(record["avg_ts"])
        assert row["load_mode"] == record["load_mode"]
        assert row["samples_ns"] == record["samples_ns"]
        assert row["extra"]["brand_new_field"] == "x"
        assert row["extra"]["lazy_mode"] == record["lazy_mode"]  # a field this schema does not name
        assert store.memory_peaks(s, rid) == {"rss": 123_456_789}
        assert store.finished_cells(s, "base") == {"k1"}


def test_value_that_does_not_fit_its_column_is_kept_in_extra(tmp_path):
    with store.open_store(tmp_path / "v.duckdb") as s:
        run_id = store.add_run(s, "x")
        store.add_result(s, run_id, {"n_ubatch": "512 (default)", "n_prompt": 512})
        (row,) = store.results(s, run_id=run_id)
        assert row["n_ubatch"] is None and row["extra"]["n_ubatch"] == "512 (default)"


def test_resolve_run_by_label_or_id_and_unknown_label_is_bad_input(tmp_path):
    with store.open_store(tmp_path / "v.duckdb") as s:
        a = store.add_run(s, "base")
        assert store.resolve_run(s, "base")["run_id"] == a
        assert store.resolve_run(s, str(a))["label"] == "base"
        assert store.resolve_run(s, f"run:{a}")["label"] == "base"
        with pytest.raises(VttError) as e:
            store.resolve_run(s, "nope")
        assert e.value.message == "unknown run or label 'nope'"
        assert e.value.exit_code == 2


def test_calibrations_latest_wins(tmp_path):
    with store.open_store(tmp_path / "v.duckdb") as s:
        first = store.save_calibration(s, "strix-halo", "vulkan", {"eta_bw": 0.6})
        second = store.save_calibration(s, "strix-halo", "vulkan", {"eta_bw": 0.7},
                                        covariance=[[0.01]], residual_stats={"mape": 0.05},
                                        data_range={"builds": ["0c1e570"]})
        assert store.latest_calibration(s, "strix-halo", "vulkan")["calibration_id"] == second
        assert store.get_calibration(s, first)["params"] == {"eta_bw": 0.6}
        assert store.latest_calibration(s, "strix-halo", "rocm") is None
        pid = store.add_prediction(s, config={"model": "m"}, predicted_tps=10.0, lo_tps=8.0, hi_tps=12.0)
        assert store.predictions(s)[0]["prediction_id"] == pid


def test_read_only_open_of_missing_file_names_the_file(tmp_path):
    with pytest.raises(VttError, match="no vtt database at"):
        store.open_store(tmp_path / "missing.duckdb", read_only=True)


HOLDER = textwrap.dedent("""
    import sys, time
    from vtt.store import open_store
    s = open_store(sys.argv[1])
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    s.close()
""")


def test_second_writer_waits_then_gets_clear_lock_error(tmp_path):
    db = tmp_path / "v.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), "6"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(EnvironmentProblem) as e:
            store.open_store(db, timeout_s=1.0)
        assert time.monotonic() - t0 >= 1.0  # it waited before giving up
        assert e.value.message.startswith("database is locked by another vtt process")
        assert e.value.exit_code == 3
    finally:
        holder.kill()
        holder.wait()
    with store.open_store(db) as s:  # the file is intact after the contention
        assert s.schema_version == len(MIGRATIONS)


def test_second_writer_gets_in_once_the_first_finishes(tmp_path):
    db = tmp_path / "v.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), "0.5"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with store.open_store(db, timeout_s=20) as s:
            store.add_run(s, "after")
    finally:
        holder.wait()
