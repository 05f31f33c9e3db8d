"""vtt optimize / vtt check through the CLI: JSON keys, budgets, exports, exit codes."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from typer.testing import CliRunner

from vtt.cli.app import app
from vtt.errors import VttError
from vtt.optimize.export import LlamaSwapConfig

runner = CliRunner()


def _invoke(args):
    try:
        r = runner.invoke(app, args, catch_exceptions=False)
        return r.exit_code, r.stdout
    except VttError as e:  # vtt.cli.main turns these into exit codes; here we read them directly
        return e.exit_code, e.message


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    d = tmp_path_factory.mktemp("plans")
    out = {}
    for b in (128, 64):
        code, text = _invoke(["optimize", "--budget-gib", str(b), "--json"])
        assert code == 0, text
        (d / f"p{b}.json").write_text(text)
        out[b] = (json.loads(text), d / f"p{b}.json")
    return out


@pytest.mark.parametrize("budget", [128, 64])
def test_optimize_assigns_all_twelve_modes_within_the_budget(plans, budget):
    plan, _ = plans[budget]
    assert len(plan["assignments"]) == 12
    for key in ("budget_gib", "assignments", "resident_sets", "objective"):
        assert key in plan
    for a in plan["assignments"]:
        assert {"editor", "mode", "model", "quant", "context", "pp_tps", "tg_tps", "resident_set", "why"} <= set(a)
    for s in plan["resident_sets"]:
        assert s["total_gib"] <= min(budget, plan["budget_gib"]) + 1e-6
        assert abs(sum(m["total_gib"] for m in s["models"]) - s["total_gib"]) < 0.05


def test_check_accepts_the_optimizers_plan(plans):
    _, path = plans[128]
    code, text = _invoke(["check", str(path)])
    assert code == 0, text


def test_check_refuses_reap_and_qwen235b_together(plans, tmp_path):
    plan, _ = plans[128]
    t = copy.deepcopy(plan)
    t["resident_sets"][0]["models"] = [
        {"model": "glm-4.7-reap-218b", "quant": "Q3_K_M", "context": 65536, "total_gib": 100.0},
        {"model": "qwen3-235b-a22b", "quant": "Q3_K_M", "context": 32768, "total_gib": 10.0}]
    t["resident_sets"][0]["total_gib"] = 110.0
    f = tmp_path / "t.json"
    f.write_text(json.dumps(t))
    code, text = _invoke(["check", str(f), "--json"])
    assert code == 1
    v = json.loads(text)["violations"]
    assert any("never to run together" in x for x in v)
    assert any("cost model" in x for x in v)       # 110 declared, but recomputed it is far more


def test_check_names_a_malformed_policy_file(plans, tmp_path):
    _, path = plans[64]
    bad = tmp_path / "bad.yaml"
    bad.write_text("hardware:\n  memory_gib: [oops\n")
    code, msg = _invoke(["check", str(path), "--policies", str(bad)])
    assert code == 2 and "bad.yaml:3" in msg


def test_export_llama_swap_loads_back_with_the_resident_sets(plans, tmp_path):
    plan, _ = plans[128]
    out = tmp_path / "ls.yaml"
    code, text = _invoke(["optimize", "--budget-gib", "128", "--export", "llama-swap", "--out", str(out)])
    assert code == 0, text
    cfg = LlamaSwapConfig.model_validate(yaml.safe_load(out.read_text()))
    groups = {g: set(v.members) for g, v in cfg.groups.items()}
    assert cfg.routing is None
    assert groups == {s["id"]: {m["server"] for m in s["models"]} for s in plan["resident_sets"]}


def test_every_mode_names_its_binding_constraint_and_what_each_other_model_lacked(plans):
    plan, _ = plans[128]
    models = {m for m in (a["model"] for a in plan["assignments"])}
    for a in plan["assignments"]:
        assert a["binding"] and a["binding"] in a["why"]
        assert a["quality_kind"] in ("measured", "prior")
        assert (a["quality_kind"] == "prior") == a["quality_source"].startswith("prior:")
        assert a["e2e_s"] == pytest.approx(a["ttft_s"] + a["gen_s"], abs=2e-3)
        named = {r.split("/")[0] for r in a["rejected"]}
        assert a["model"] not in named and len(named) == len(a["rejected"])
    assert models


def test_optimize_reports_an_impossible_need_with_the_reason(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text("modes:\n  roo/code: {min_tg_tps: 5000}\n")
    code, msg = _invoke(["optimize", "--editors", "roo", "--policies", str(pol), "--json"])
    assert code == 1 and "roo/code" in msg and "under the 5000 t/s" in msg


def test_vtt_plan_start_up_does_not_import_scipy_or_rich():
    import subprocess
    import sys

    code = "import sys, vtt.cli.app; print(sorted(m for m in ('scipy', 'rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_pin_that_cannot_serve_shows_what_the_pinned_model_lacks(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text("pins:\n  roo/ask: qwen3-235b-a22b\n")
    code, msg = _invoke(["optimize", "--editors", "roo", "--policies", str(pol), "--json"])
    assert code == 1 and "roo/ask is pinned to qwen3-235b-a22b, which cannot serve it" in msg
    assert "qwen3-235b-a22b/" in msg and ("t/s" in msg or "first token" in msg or "context" in msg)


@pytest.mark.parametrize("bad", ["nan", "inf", "-1"])
def test_optimize_refuses_a_budget_that_is_not_a_positive_number(bad):
    code, msg = _invoke(["optimize", "--budget-gib", bad, "--json"])
    assert code == 2 and "budget-gib" in msg


def test_check_refuses_a_mode_served_by_a_model_under_the_size_floor(plans, tmp_path):
    plan, _ = plans[128]
    t = copy.deepcopy(plan)
    ask = next(a for a in t["assignments"] if a["editor"] == "roo" and a["mode"] == "ask")
    ask.update(model="gemma-3-1b", quant="Q8_0")
    t["resident_sets"][0]["models"].append({"model": "gemma-3-1b", "quant": "Q8_0", "context": 32768, "total_gib": 1.5})
    f = tmp_path / "t.json"
    f.write_text(json.dumps(t))
    code, text = _invoke(["check", str(f), "--json"])
    assert code == 1
    assert any("roo/ask: gemma-3-1b has 1 B parameters, under the policy's min_params_b 3" in x
               for x in json.loads(text)["violations"])
