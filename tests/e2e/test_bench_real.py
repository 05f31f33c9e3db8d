"""End to end with the real CPU llama-bench on a tiny GGUF: run, store, resume, drift, ingest, memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vtt import store

sys.path.insert(0, str(Path(__file__).parent))
from gguf_writer import write_llama_gguf  # noqa: E402

pytestmark = pytest.mark.e2e
VTT = str(Path(sys.executable).parent / "vtt")


def vtt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([VTT, *args], capture_output=True, text=True, timeout=300)


def test_matrix_run_stores_samples_and_resume_skips_finished(llama_bench, tiny_gguf, tmp_path):
    matrix = tmp_path / "m.yaml"
    matrix.write_text(f"models: [{tiny_gguf}]\nn_prompt: 64\nn_gen: 16\nthreads: [1, 2]\nrepetitions: 3\n")
    db = str(tmp_path / "r.duckdb")
    first = vtt("bench", "run", "--matrix", str(matrix), "--label", "m", "--db", db, "--json",
                "--llama-bench", llama_bench)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["cells_ok"], summary["cells_failed"], summary["status"]) == (4, 0, "ok")
    with store.open_store(db, read_only=True) as s:
        rows = store.results(s, label="m")
        assert len(rows) == 4
        assert all(len(r["samples_ns"]) == 3 for r in rows)
        assert {r["n_threads"] for r in rows} == {1, 2}
        assert all(store.memory_peaks(s, r["result_id"])["rss"] > 1_000_000 for r in rows)
        run = store.find_runs(s, label="m")[0]
        fingerprint = store.get_machine(s, run["machine_id"])
        assert fingerprint["llama_bench_version"]["build_commit"] == "0c1e570"
        assert fingerprint["llama_cpp_source"]["sdist"] == "llama-cpp-python==0.3.36"
    again = vtt("bench", "run", "--matrix", str(matrix), "--label", "m", "--db", db, "--json", "--resume",
                "--llama-bench", llama_bench)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["cells_skipped"] == 4


def test_drift_flags_a_cell_that_got_slower_and_not_a_run_against_itself(llama_bench, tiny_gguf, tmp_path):
    # The same cell (file name, shapes, threads) made 6x heavier: 24 layers, not 4, a count llama.cpp gives
    # no size label, so the key still matches. No CI load hides that. One thread on both sides, because two
    # spinning threads on a busy 2-core box swing t/s by 2x either way.
    (tmp_path / "swapped").mkdir()
    heavier = write_llama_gguf(tmp_path / "swapped" / tiny_gguf.name, n_layer=24, n_embd=512, n_vocab=4096)
    db = str(tmp_path / "r.duckdb")
    for label, model in (("base", tiny_gguf), ("slow", heavier)):
        done = vtt("bench", "run", "-m", str(model), "-p", "128", "-n", "32", "-r", "5", "-t", "1",
                   "--label", label, "--db", db, "--llama-bench", llama_bench)
        assert done.returncode == 0, done.stderr
    forward = vtt("drift", "--db", db, "--baseline", "base", "--candidate", "slow", "--json")
    backward = vtt("drift", "--db", db, "--baseline", "slow", "--candidate", "base", "--json")
    assert (forward.returncode, backward.returncode) == (1, 0), forward.stdout
    for done, verdict in ((forward, "regression"), (backward, "improvement")):
        verdicts = json.loads(done.stdout)["verdicts"]
        assert [v["verdict"] for v in verdicts] == [verdict, verdict]
        # the report says why: the file behind the name changed
        assert all(len(set(v["differences"]["model_n_params"])) == 2 for v in verdicts)
    same = vtt("drift", "--db", db, "--baseline", "base", "--candidate", "base")
    assert same.returncode == 0, same.stdout


def test_ingest_of_real_llama_bench_output_is_idempotent(llama_bench, tiny_gguf, tmp_path):
    out = tmp_path / "theirs.jsonl"
    with open(out, "w") as f:
        subprocess.run([llama_bench, "-m", str(tiny_gguf), "-p", "64", "-n", "16", "-r", "3", "-o", "jsonl"],
                       stdout=f, stderr=subprocess.DEVNULL, check=True)
    db = str(tmp_path / "r.duckdb")
    first = json.loads(vtt("ingest", str(out), "--db", db, "--json").stdout)
    second = json.loads(vtt("ingest", str(out), "--db", db, "--json").stdout)
    assert (first[0]["added"], second[0]["added"], second[0]["duplicates"]) == (2, 0, 2)
    with store.open_store(db, read_only=True) as s:
        assert all(len(r["samples_ns"]) == 3 for r in store.results(s))


def test_measure_llama_memory_kv_scales_with_context(llama_bench, tiny_gguf):
    from vtt.harness.memory import measure_llama_memory

    small = measure_llama_memory(tiny_gguf, 1024, llama_bench=llama_bench)
    big = measure_llama_memory(tiny_gguf, 4096, llama_bench=llama_bench)
    # 4 layers x 2 kv heads... f16 K and V: KV bytes are linear in n_ctx
    assert big["kv_bytes"] == 4 * small["kv_bytes"] > 0
    assert small["compute_bytes"] > 0 and small["output_bytes"] > 0
    assert abs(small["weights_bytes"] - tiny_gguf.stat().st_size) < 2 * 1024 * 1024


def test_fit_params_runner_keeps_the_whole_log_every_time(llama_bench, tiny_gguf):
    """The binary loses its last log lines in 10-70 % of runs (the logger is never drained at exit);
    the runner drains it, so each run has the compute buffer and the breakdown table."""
    from vtt.harness.memory import parse_memory_log

    args = ["-m", str(tiny_gguf), "-c", "2048", "--fit-print", "on", "-v"]
    for _ in range(8):
        proc = subprocess.run([sys.executable, "-m", "vtt.harness.fit_params_run", str(Path(llama_bench).parent),
                               *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-500:]
        out = parse_memory_log(proc.stdout + proc.stderr)
        assert out["compute_bytes"] > 0 and out["by_device"] and out["kv_bytes"] > 0
