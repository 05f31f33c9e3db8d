"""vtt drift guards: too few repetitions exit 4 with the count needed, a label with several runs asks which
one, --against-prediction refuses hardware no spec describes. Real DuckDB file, real CLI."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from vtt import store
from vtt.cli.app import app
from vtt.drift.compare import min_two_sided_p, needed_repetitions
from vtt.errors import VttError

runner = CliRunner()


def _record(tps: list[float], n_gen: int = 128) -> dict:
    ns = [int(1e9 * n_gen / t) for t in tps]
    return {"model_filename": "/m/llama-2-7b.Q4_0.gguf", "model_type": "llama 7B Q4_0", "model_size": 3825065984,
            "model_n_params": 6738415616, "n_prompt": 0, "n_gen": n_gen, "n_depth": 0, "n_threads": 4,
            "n_batch": 2048, "n_ubatch": 512, "type_k": "f16", "type_v": "f16", "flash_attn": 1,
            "avg_ts": float(np.mean(tps)), "samples_ns": ns, "samples_ts": tps}


def _db(tmp_path, runs: list[tuple[str, list[float], str | None]]):
    path = tmp_path / "v.duckdb"
    with store.open_store(path) as s:
        for label, tps, hw in runs:
            rid = store.add_run(s, label, hardware=hw, backend="vulkan-radv")
            store.add_result(s, rid, _record(tps))
            store.set_run_status(s, rid, "ok")
    return str(path)


def _invoke(args):
    try:
        r = runner.invoke(app, args, catch_exceptions=False)
        return r.exit_code, r.stdout + (r.stderr if r.stderr_bytes is not None else "")
    except VttError as e:
        return e.exit_code, e.message


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.001])
def test_needed_repetitions_is_the_first_count_that_can_reach_alpha(alpha):
    k = needed_repetitions(alpha)
    assert min_two_sided_p(k, k) <= alpha < min_two_sided_p(k - 1, k - 1)


def test_too_few_repetitions_exit_4_and_say_how_many(tmp_path):
    db = _db(tmp_path, [("a", [50.0, 51.0, 49.0], "strix-halo-128"), ("b", [40.0, 41.0, 39.0], "strix-halo-128")])
    code, out = _invoke(["drift", "--baseline", "a", "--candidate", "b", "--db", db, "--json"])
    assert code == 4, out
    assert f"-r {needed_repetitions(0.01)}" in out


def test_enough_repetitions_give_a_verdict_not_4(tmp_path):
    rng = np.random.default_rng(0)
    db = _db(tmp_path, [("a", list(rng.normal(50, 0.5, 8)), "strix-halo-128"),
                        ("b", list(rng.normal(40, 0.4, 8)), "strix-halo-128")])
    code, _ = _invoke(["drift", "--baseline", "a", "--candidate", "b", "--db", db, "--json"])
    assert code == 1


def test_a_label_with_several_runs_asks_which_one(tmp_path):
    rng = np.random.default_rng(1)
    db = _db(tmp_path, [("a", list(rng.normal(50, 0.5, 8)), "strix-halo-128"),
                        ("a", list(rng.normal(50, 0.5, 8)), "strix-halo-128"),
                        ("b", list(rng.normal(50, 0.5, 8)), "strix-halo-128")])
    code, msg = _invoke(["drift", "--baseline", "a", "--candidate", "b", "--db", db])
    assert code == 2 and "label 'a' has 2 runs" in msg and "run:1" in msg and "run:2" in msg
    code, _ = _invoke(["drift", "--baseline", "run:2", "--candidate", "b", "--db", db, "--json"])
    assert code == 0


def test_against_prediction_refuses_hardware_no_spec_describes(tmp_path):
    rng = np.random.default_rng(2)
    db = _db(tmp_path, [("a", list(rng.normal(50, 0.5, 8)), "strix-halo-128"),
                        ("b", list(rng.normal(50, 0.5, 8)), "my-homebuilt-box")])
    code, msg = _invoke(["drift", "--baseline", "a", "--candidate", "b", "--db", db, "--against-prediction"])
    assert code == 2 and "my-homebuilt-box" in msg and "no spec describes" in msg
