"""Memory per context and context stress with real llama-server starts (CPU build, generated models)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vtt import store
from vtt.store import serve_records

sys.path.insert(0, str(Path(__file__).parent))
from serve_models import write_chat_gguf  # noqa: E402
from test_serve import VTT, llama_server, no_holders_within  # noqa: E402,F401

MIB = 2 ** 20


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("mem")
    return {"2l": write_chat_gguf(d / "chat-2l.gguf"), "8l": write_chat_gguf(d / "chat-8l.gguf", n_layer=8)}


def test_memory_per_context_server_fit_params_and_vtt(models, llama_server, tmp_path):
    model, db = models["2l"], tmp_path / "m.duckdb"
    p = subprocess.run([VTT, "bench", "serve-memory", "-m", str(model), "--contexts", "1024,4096", "--label", "mem",
                        "--db", str(db), "--json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    levels = [json.loads(line) for line in p.stdout.splitlines()]
    assert [lv["n_ctx"] for lv in levels] == [1024, 4096]
    # KV bytes from the model's shape, independent of vtt: layers x (K + V) x kv heads x head dim x f16
    per_token = 2 * 2 * 2 * 64 * 2
    for lv in levels:
        assert lv["server"]["kv_bytes"] == lv["n_ctx"] * per_token
        assert lv["vtt_plan"]["kv_bytes"] == lv["n_ctx"] * per_token
        assert lv["server"]["weights_bytes"] > 2 * MIB and lv["rss_bytes"] > lv["server"]["weights_bytes"]
        assert abs(lv["fit_params"]["total_bytes"] - lv["server"]["total_bytes"]) < 0.15 * lv["server"]["total_bytes"]
        assert lv["plan_vs_server"]["kv_bytes"] == 0.0
    assert levels[1]["server"]["compute_bytes"] >= levels[0]["server"]["compute_bytes"]
    with store.open_store(db, read_only=True) as s:
        run = store.find_runs(s, label="mem")[-1]
        sources = {(m["n_ctx"], m["source"]) for m in serve_records.memory(s, run["run_id"])}
    assert sources == {(c, src) for c in (1024, 4096) for src in ("server-log", "llama-fit-params", "vtt-plan", "rss")}
    assert not no_holders_within(model)


def test_context_stress_finds_the_allocation_edge_under_a_memory_cap(models, llama_server, tmp_path):
    from vtt.harness.serve import LlamaServer, load_runtime
    from vtt.harness.serve_memory import CAPPED_ENV

    model, db = models["8l"], tmp_path / "m.duckdb"
    with LlamaServer(llama_server, model, load_runtime(None), 512, env=CAPPED_ENV) as srv:
        baseline = srv.vm_peak_bytes()
    srv.remove_log()
    # 8 MiB over what the server maps at 512 tokens: the KV cache alone needs 4 KiB a token
    # (8 layers x 512 B), so about 2K tokens fit and 4096 cannot
    cap = baseline + 8 * MIB
    p = subprocess.run([VTT, "bench", "serve-stress", "-m", str(model), "--min-ctx", "512", "--max-ctx", "4096",
                        "--step", "256", "--memory-limit", str(cap), "--label", "st", "--db", str(db), "--json",
                        "--request-timeout", "15"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    probes = [x["probe"] for x in lines if "probe" in x]
    s = lines[-1]["summary"]
    good, bad = s["largest_ok"], s["first_failing"]
    assert good is not None and bad == good + 256
    assert s["failure"] in ("alloc_error", "crash", "load_failed", "request_failed")
    for pr in probes:  # the edge is consistent with every probe
        assert (pr["outcome"] == "ok") == (pr["n_ctx"] <= good), pr
    assert s["vtt"]["largest_fit"] is not None
    with store.open_store(db, read_only=True) as st:
        run = store.find_runs(st, label="st")[-1]
        assert len(serve_records.probes(st, run["run_id"])) == len(probes)
        assert serve_records.summaries(st, kind="stress")[0]["summary"]["largest_ok"] == good
    assert not no_holders_within(model)
