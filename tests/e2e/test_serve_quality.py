"""Code-quality probes end to end against the random-weight model: a started server and a given URL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vtt import store
from vtt.store import serve_records

sys.path.insert(0, str(Path(__file__).parent))
from test_serve import VTT, chat_model, llama_server, no_holders_within  # noqa: E402,F401


def _run(args, tmp_path):
    db = tmp_path / "q.duckdb"
    p = subprocess.run([VTT, "bench", "serve-quality", *args, "--max-tokens", "24", "--label", "q", "--db", str(db),
                        "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return db, lines[:-1], lines[-1]["quality"]


def test_quality_suite_on_a_started_server_scores_the_random_model_near_zero(chat_model, llama_server, tmp_path):
    db, tasks, q = _run(["-m", str(chat_model)], tmp_path)
    assert [t["task"] for t in tasks][:2] == ["fizzbuzz", "is-palindrome"] and len(tasks) == q["total"] == 7
    assert q["suite"] == "coding" and q["suite_version"] == 1 and q["quant"] == "F16"
    assert q["passed"] == sum(t["passed"] for t in tasks) and q["score"] <= 2 / 7  # random weights: the honest result
    assert all(t["reason"] for t in tasks)
    with store.open_store(db, read_only=True) as s:
        stored = serve_records.summaries(s, kind="quality")[0]["summary"]
        assert stored["model"] == chat_model.name and stored["score"] == q["score"]
        assert len(serve_records.requests(s, status=None)) == 7
    assert not no_holders_within(chat_model)


def test_quality_suite_against_a_given_endpoint(chat_model, llama_server, tmp_path):
    from vtt.harness.serve import LlamaServer, load_runtime

    with LlamaServer(llama_server, chat_model, load_runtime(None), 2048) as srv:
        db, tasks, q = _run(["--url", srv.client.base_url, "--served-model", "tiny"], tmp_path)
    assert q["model"] == "tiny" and q["quant"] is None and len(tasks) == 7
    assert q["endpoint"].startswith("http://127.0.0.1:")
    assert not no_holders_within(chat_model)
