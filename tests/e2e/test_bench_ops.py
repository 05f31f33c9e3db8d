"""`vtt bench ops` end to end: the real test-backend-ops on the CPU backend, results in a real DuckDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def test_backend_ops(llama_bench) -> Path:
    p = Path(llama_bench).parent / "test-backend-ops"
    assert p.is_file(), "vtt bench install builds test-backend-ops beside llama-bench"
    return p


def _vtt(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "vtt.cli", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_bench_ops_ci_profile_stores_every_case_with_the_fingerprint(tmp_path, test_backend_ops):
    from vtt.harness.ops import op_cases
    from vtt.store import open_store
    from vtt.store.ops_records import op_results

    db = tmp_path / "ops.duckdb"
    t0 = time.monotonic()
    r = _vtt("bench", "ops", "-b", "CPU", "--profile", "ci", "--db", str(db), "--label", "ci-ops",
             "--binary", str(test_backend_ops), "--json")
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    summary = lines[-1]["summary"]
    assert summary["missing"] == [] and summary["failed"] == []
    assert wall < 60, f"CI budget: {wall:.0f} s"
    with open_store(db, read_only=True) as st:
        rows = op_results(st, label="ci-ops")
        fp = st.execute("SELECT fingerprint FROM machines m JOIN runs r USING (machine_id) WHERE r.label = 'ci-ops'").fetchone()
    keys = {c.key for c in op_cases("ci")}
    assert {x["case_key"] for x in rows} == keys
    assert {x["op"] for x in rows} == {"MUL_MAT", "MUL_MAT_ID", "FLASH_ATTN_EXT"}
    for x in rows:
        assert x["time_us"] > 0 and x["flops_s"] > 0 and x["build_commit"].startswith("0c1e570")
        assert x["build"]["build_commit"] == "0c1e570"
    assert json.loads(fp[0])["cpu_count"] >= 1
    # a weight matmul at 32 tokens does more work per byte than at 1: FLOP/s must rise
    by = {x["case_key"]: x for x in rows}
    assert by["mm_q4_0_m512_n32_k512"]["flops_s"] > by["mm_q4_0_m512_n1_k512"]["flops_s"]


def test_bench_ops_kills_a_hung_child_and_leaves_no_orphan(tmp_path):
    fake = tmp_path / "test-backend-ops"
    pidfile = tmp_path / "pid"
    fake.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nsleep 300\n")
    fake.chmod(0o755)
    r = _vtt("bench", "ops", "--db", str(tmp_path / "x.duckdb"), "--binary", str(fake), "--timeout", "2")
    assert r.returncode == 3 and "no results" in r.stderr
    pid = int(pidfile.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_bench_ops_without_the_binary_is_an_environment_error(tmp_path):
    r = _vtt("bench", "ops", "--db", str(tmp_path / "x.duckdb"), "--binary", str(tmp_path / "nope"))
    assert r.returncode == 3 and r.stderr.startswith("vtt: error: test-backend-ops not found")


def test_bench_ops_depth_profile_gives_a_curve_per_shape_that_calibrate_reads(tmp_path, test_backend_ops):
    from vtt.calibrate.pipeline import load_op_rows
    from vtt.cost.depth_curve import curves_from_ops

    db = tmp_path / "ops.duckdb"
    # TinyLlama's attention shape (64 wide, 32 query heads on 4 KV heads) at tiny KV lengths: ~30 s on 2 cores
    r = _vtt("bench", "ops", "-b", "CPU", "--profile", "depth", "-m", "tinyllama-1.1b", "--kv", "16,32,64",
             "--db", str(db), "--binary", str(test_backend_ops), "--hardware", "strix-halo-128", "--vtt-backend", "cpu")
    assert r.returncode == 0, r.stderr
    assert "64/64/32/4" in r.stdout and "time per FLOP against the shortest KV" in r.stdout
    (c,) = curves_from_ops(load_op_rows(str(db), "strix-halo-128", "cpu"))
    assert c["geometry"] == "64/64/32/4" and c["n_kv"] == [16, 32, 64] and c["slowdown"][0] == 1.0
    assert all(0.2 < x < 5 for x in c["slowdown"])  # a rate, not a stray unit
    bad = _vtt("bench", "ops", "--profile", "depth", "--kv", "4k", "--db", str(db), "--binary", str(test_backend_ops))
    assert bad.returncode == 2 and "bad --kv" in bad.stderr
