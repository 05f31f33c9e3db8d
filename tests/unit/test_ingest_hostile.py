"""Ingest of malformed, hostile or duplicated files, and kill -9 in the middle of one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vtt import store
from vtt.errors import BadQuery
from vtt.harness.ingest import ingest_files

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "llama_bench"
BASE = json.loads((FIXTURES / "cpu_pp64_tg16.jsonl").read_text().splitlines()[0])


def _rec(i: int, **over) -> dict:
    r = dict(BASE, test_time=f"2026-11-27T12:00:00Z#{i}", avg_ns=1_000_000 + i,
             samples_ns=[1_000_000 + i + k for k in range(5)])
    r.update(over)
    return r


def test_malformed_rows_are_named_by_line_and_skipped(tmp_path):
    lines = [json.dumps(_rec(1)), "[1, 2, 3]", "{not json", json.dumps(_rec(2, samples_ns=["x"])),
             json.dumps(_rec(3, samples_ns=[-5])), json.dumps(_rec(4, samples_ns="abc")),
             json.dumps(_rec(5, n_prompt=1e30)), json.dumps(_rec(6, avg_ts=float("nan"))),
             json.dumps(_rec(7))]
    f = tmp_path / "r.jsonl"
    f.write_text("\n".join(lines) + "\n")
    db = tmp_path / "v.duckdb"
    (s,) = ingest_files([f], db=db)
    assert s["added"] == 4 and s["skipped"] == 5
    assert [x.split(":")[1] for x in s["skipped_rows"]] == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    assert "not a JSON object" in s["skipped_rows"][0] and "samples_ns" in s["skipped_rows"][2]
    with store.open_store(db, read_only=True) as st:
        run = store.get_run(st, s["run_id"])
        rows = store.results(st, run_id=s["run_id"])
    assert run["status"] == "ok" and run["params"]["skipped"] == 5
    assert all(len(r["samples_ns"]) == 5 for r in rows)
    assert rows[1]["extra"]["n_prompt"] == 1e30  # kept, under its own name, not in the BIGINT column


def test_csv_trailing_comma_and_extra_cells(tmp_path):
    header = (FIXTURES / "cpu.csv").read_text().splitlines()
    f = tmp_path / "r.csv"
    f.write_text("\n".join([header[0], header[1] + ",", header[2] + ',"surplus"']) + "\n")
    (s,) = ingest_files([f], db=tmp_path / "v.duckdb")
    assert s["added"] == 1 and s["skipped"] == 1 and "r.csv:line 3" in s["skipped_rows"][0]


def test_a_file_with_no_readable_row_is_refused_whole(tmp_path):
    f = tmp_path / "r.jsonl"
    f.write_text("[1]\n[2]\n")
    with pytest.raises(BadQuery, match="r.jsonl"):
        ingest_files([f], db=tmp_path / "v.duckdb")


@pytest.mark.parametrize("path", ["/dev/zero", "fifo"])
def test_devices_and_fifos_are_refused_without_reading(tmp_path, path):
    if path == "fifo":
        path = tmp_path / "r.jsonl"
        os.mkfifo(path)
    t0 = time.monotonic()
    with pytest.raises(BadQuery, match="not a regular file"):
        ingest_files([path], db=tmp_path / "v.duckdb")
    assert time.monotonic() - t0 < 2


def _as_csv(records: list[dict]) -> str:
    """llama-bench's csv printer: every field quoted, in order, no samples (tools/llama-bench)."""
    fields = [k for k in records[0] if k not in ("samples_ns", "samples_ts")]
    out = [",".join(fields)]
    for r in records:
        out.append(",".join('"' + (str(int(r[k])) if isinstance(r[k], bool) else str(r[k])) + '"' for k in fields))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("first", ["json", "csv"])
def test_same_run_in_two_formats_is_stored_once(tmp_path, first):
    records = [json.loads(x) for x in (FIXTURES / "cpu_pp64_tg16.jsonl").read_text().splitlines()]
    j = tmp_path / "run.json"
    j.write_text(json.dumps(records))
    c = tmp_path / "run.csv"
    c.write_text(_as_csv(records))
    db = tmp_path / "v.duckdb"
    files = [j, c] if first == "json" else [c, j]
    a, b = ingest_files(files, db=db)
    assert a["added"] == 2 and b["added"] == 0 and b["duplicates"] == 2
    assert b["samples_merged"] == (2 if first == "csv" else 0)  # the json's samples join the csv's rows
    with store.open_store(db, read_only=True) as st:
        rows = store.results(st)
    assert len(rows) == 2 and all(len(r["samples_ns"]) == len(records[0]["samples_ns"]) for r in rows)


def test_kill_9_mid_file_leaves_no_result_without_samples(tmp_path):
    f = tmp_path / "big.jsonl"
    n = 1500
    f.write_text("\n".join(json.dumps(_rec(i)) for i in range(n)) + "\n")
    db = tmp_path / "v.duckdb"
    exe = Path(sys.executable).parent / "vtt"
    seen = []
    for delay in (2.5, 5.0):
        p = subprocess.Popen([str(exe), "ingest", str(f), "--db", str(db)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        with store.open_store(db) as st:  # a write open marks the dead ingest's run interrupted
            counts = st.execute("""SELECT r.result_id, count(s.idx) FROM results r
                                   LEFT JOIN samples s USING (result_id) GROUP BY r.result_id""").fetchall()
            statuses = {r["status"] for r in store.find_runs(st)}
        assert all(c == 5 for _, c in counts), "a result lost its samples"
        assert "running" not in statuses and ("interrupted" in statuses or len(counts) == 0 or len(counts) == n)
        seen.append(len(counts))
    assert any(0 < c < n for c in seen), seen  # at least one kill landed between commits
    (s,) = ingest_files([f], db=db)  # a re-ingest completes the file, adding only what is missing
    with store.open_store(db, read_only=True) as st:
        total = st.execute("SELECT count(*) FROM results").fetchone()[0]
        samples = st.execute("SELECT count(*) FROM samples").fetchone()[0]
    assert total == n and samples == 5 * n and s["added"] == n - len(counts)


def test_a_concurrent_writer_gets_the_lock_during_a_long_ingest(tmp_path, monkeypatch):
    """Ingest commits in chunks and closes the database between them: a `bench run` storing a
    cell meanwhile waits at most one chunk, never the whole file."""
    f = tmp_path / "big.jsonl"
    n = 1500
    f.write_text("\n".join(json.dumps(_rec(i)) for i in range(n)) + "\n")
    db = tmp_path / "v.duckdb"
    with store.open_store(db) as s:
        run_id = store.add_run(s, "bench", status="ok")
    exe = Path(sys.executable).parent / "vtt"
    p = subprocess.Popen([str(exe), "ingest", str(f), "--db", str(db)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    monkeypatch.setenv("VTT_DB_LOCK_TIMEOUT_S", "6")
    written = 0
    try:
        time.sleep(2.0)
        while p.poll() is None and written < 4:
            with store.open_store(db) as s, store.transaction(s):  # raises database_locked after 6 s
                store.add_result(s, run_id, _rec(10_000 + written), cell_key=f"c{written}")
            written += 1
            time.sleep(1.0)
    finally:
        out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert written >= 2, "the ingest finished before the writer could test the lock"
    with store.open_store(db, read_only=True) as s:
        assert s.execute("SELECT count(*) FROM results").fetchone()[0] == n + written
