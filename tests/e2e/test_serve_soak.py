"""A short soak on the real llama-server: requests cycle through the workload, trends are stored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vtt import store
from vtt.store import serve_records

sys.path.insert(0, str(Path(__file__).parent))
from test_serve import VTT, chat_model, llama_server, no_holders_within  # noqa: E402,F401


def test_short_soak_cycles_the_workload_and_stores_a_verdict(chat_model, llama_server, tmp_path):
    db = tmp_path / "s.duckdb"
    p = subprocess.run([VTT, "bench", "serve-soak", "-m", str(chat_model), "--workload", "smoke",
                        "--requests", "12", "--label", "soak", "--db", str(db), "--json"],
                       capture_output=True, text=True, timeout=120)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    rows, soak = lines[:-1], lines[-1]["soak"]
    assert p.returncode == (1 if soak["leak"] else 0), p.stderr
    assert len(rows) == 12 and rows[3]["request"] == "cold#0@1" and rows[-1]["request"] == "warm#1@3"
    assert soak["rss_mib_per_h"]["n"] > 3 and soak["warmup_s"] > 0
    assert soak["verdict"] in ("ok", "inconclusive")  # seconds of settling are never a leak
    with store.open_store(db, read_only=True) as s:
        stored = serve_records.summaries(s, kind="soak")
        assert stored[0]["label"] == "soak" and stored[0]["verdict"] == soak["verdict"]
    assert not no_holders_within(chat_model)
