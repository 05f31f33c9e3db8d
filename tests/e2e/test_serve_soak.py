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


def test_drift_between_two_serve_runs(chat_model, llama_server, tmp_path):
    db = tmp_path / "d.duckdb"
    for label in ("base", "cand"):
        p = subprocess.run([VTT, "bench", "serve-soak", "-m", str(chat_model), "--workload", "smoke", "--requests", "9",
                            "--label", label, "--db", str(db)], capture_output=True, text=True, timeout=120)
        assert p.returncode in (0, 1), p.stderr
    d = subprocess.run([VTT, "drift", "--baseline", "base", "--candidate", "cand", "--db", str(db), "--json",
                        "--against-prediction"], capture_output=True, text=True, timeout=60)
    out = json.loads(d.stdout)
    checks = out["against_prediction"]
    assert d.returncode == (1 if out["regressed"] or any(c["verdict"] != "within" for c in checks) else 0)
    # every candidate request checked against vtt plan on TTFT and decode t/s
    assert sorted(c["test"] for c in checks) == sorted(f"{k} {m}" for k in
                                                       ("cold#0", "warm#0", "warm#1", "cold#0@1", "warm#0@1",
                                                        "warm#1@1", "cold#0@2", "warm#0@2", "warm#1@2")
                                                       for m in ("ttft_s", "decode_tps"))
    assert all(c["lo_tps"] <= c["predicted_tps"] <= c["hi_tps"] for c in checks)
    tests = {v["test"] for v in out["verdicts"]}
    assert {"cold (first) decode t/s", "warm (repeat) decode t/s", "warm (repeat) TTFT (as 1/s)",
            "soak RSS slope (MiB/h)"} <= tests
    warm = next(v for v in out["verdicts"] if v["test"] == "warm (repeat) decode t/s")
    assert warm["n_baseline"] == 5 and warm["n_candidate"] == 5  # warm#1 and both warm@1, warm@2
