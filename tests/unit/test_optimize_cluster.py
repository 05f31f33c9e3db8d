"""vtt optimize on a cluster (vtt.optimize.split): split candidates, per-box budgets, their explanations,
vtt check of a cluster plan and the llama-swap export of a split model. Real specs and the real cost model."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml

from vtt.errors import BadQuery, VttError
from vtt.optimize import optimize
from vtt.optimize.assign import Infeasible
from vtt.optimize.check import check_plan, read_plan
from vtt.optimize.export import Target, export
from vtt.optimize.inputs import load_inputs
from vtt.plan import plan_many
from vtt.specs.catalog import default_world

ROO = ["architect", "code", "ask", "debug", "orchestrator"]
ARG_CPP = Path("~/.cache/vtt/llama.cpp/llama_cpp_python-0.3.36/vendor/llama.cpp/common/arg.cpp").expanduser()


def relaxed_policy(tmp_path: Path, min_tg: float = 1.0, max_ttft: float = 600.0) -> Path:
    """The default policy with every Roo mode's speed needs lowered, so big slow models may serve them."""
    world = default_world()
    src = next(r / "policies" / "default.yaml" for r in world.roots if (r / "policies" / "default.yaml").is_file())
    doc = yaml.safe_load(src.read_text())
    doc["modes"] = {f"roo/{m}": {"min_tg_tps": min_tg, "max_ttft_s": max_ttft} for m in ROO}
    out = tmp_path / "relaxed.yaml"
    out.write_text(yaml.safe_dump(doc))
    return out


@pytest.fixture(scope="module")
def glm_split(tmp_path_factory):
    pol = relaxed_policy(tmp_path_factory.mktemp("pol"))
    return pol, optimize(editors="roo", models=["glm-4.7"], boxes=2, policies=[pol]).to_json()


def test_a_model_that_fits_only_split_is_infeasible_on_one_box_and_served_split_on_two(glm_split):
    pol, plan = glm_split
    with pytest.raises(Infeasible, match="budget"):
        optimize(editors="roo", models=["glm-4.7"], policies=[pol])
    assert {a["mode"] for a in plan["assignments"]} == set(ROO)
    for a in plan["assignments"]:
        sp = a["split"]
        assert sp and sp["boxes"] == 2 and sp["link"] == "10gbe" and not sp["fits_one_box"]
        assert a["tg_tps"] < sp["tg_tps_one_box"]            # the network costs every token something
        assert sp["network_ms_per_token"] > 0
        assert "runs split over 2 boxes" in a["why"] and "ms per token" in a["why"]
        assert a["binding"].startswith("memory budget (on one box:")
    cl = plan["cluster"]
    budgets = [b["budget_gib"] for b in cl["boxes"]]
    for s in plan["resident_sets"]:
        assert all(g <= b + 1e-6 for g, b in zip(s["box_gib"], budgets))
        assert abs(sum(s["box_gib"]) - s["total_gib"]) < 0.01
        for m in s["models"]:
            assert m["split"]["boxes"] == ["box1", "box2"] and len(m["split"]["devices"]) == 2


def test_split_prices_are_vtt_plan_boxes_prices(glm_split):
    """The optimizer's split speeds are `vtt plan --boxes 2`'s for the same request (one source of truth)."""
    _, plan = glm_split
    a = next(x for x in plan["assignments"] if x["mode"] == "code")
    world, eds, pol = load_inputs(None, "roo")
    req = next(m for m in eds["roo"].modes if m.id == "code").request
    C, P, O = req.depth, req.n_prompt, req.n_gen
    base = {"model": "glm-4.7", "quant": a["quant"], "boxes": 2, "link": "10gbe", "kv_type": pol.kv_type}
    pre, gen = plan_many([{**base, "context": C + P + 1, "depth": C, "n_prompt": P, "n_gen": 1},
                          {**base, "context": C + P + O + 1, "depth": C + P, "n_prompt": 1, "n_gen": O}], world)
    assert gen["tg_tps"] == pytest.approx(a["tg_tps"], abs=0.011)
    assert gen["tg_tps_one_box"] == pytest.approx(a["split"]["tg_tps_one_box"], abs=0.011)
    assert pre["pp_tps"] == pytest.approx(a["pp_tps"], abs=0.011)
    assert pre["ttft_s"] == pytest.approx(a["ttft_s"], rel=1e-3)   # plan rounds its one-box pp first


def test_a_model_too_big_even_for_the_cluster_is_rejected_saying_so(tmp_path):
    pol = relaxed_policy(tmp_path)
    plan = optimize(editors="roo", models=["glm-4.7", "gpt-oss-20b"], boxes=2, budget_gib=60, policies=[pol]).to_json()
    for a in plan["assignments"]:
        assert a["model"] == "gpt-oss-20b"
        glm = [r for r in a["rejected"] if r.startswith("glm-4.7/")]
        assert glm and "does not fit even split over 2 boxes on 10gbe" in glm[0], a["rejected"]


def test_a_cluster_leaves_a_plan_that_fits_one_box_alone():
    one = optimize(editors="roo", models=["gpt-oss-20b", "qwen3-coder-30b-a3b"]).to_json()
    two = optimize(editors="roo", models=["gpt-oss-20b", "qwen3-coder-30b-a3b"], boxes=2).to_json()
    assert two["objective"] == pytest.approx(one["objective"], abs=1e-9)
    assert [(a["model"], a["quant"], a["tg_tps"]) for a in two["assignments"]] == \
           [(a["model"], a["quant"], a["tg_tps"]) for a in one["assignments"]]
    assert all(a["split"] is None for a in two["assignments"])
    assert one["cluster"] is None and all(s["box_gib"] is None for s in one["resident_sets"])


def test_a_cluster_spec_sets_the_main_hardware_and_refuses_another():
    with pytest.raises(BadQuery, match="main box"):
        optimize(editors="roo", models=["gpt-oss-20b"], cluster="h200-vulkan-x2", hardware="strix-halo-128")
    plan = optimize(editors="roo", models=["gpt-oss-20b"], cluster="h200-vulkan-x2").to_json()
    assert plan["hardware"] == default_world().get_cluster("h200-vulkan-x2").boxes[0].hardware
    assert plan["cluster"]["query"] == {"cluster": "h200-vulkan-x2"}


@pytest.mark.parametrize("kw,msg", [({"link": "10gbe"}, "needs --boxes"), ({"boxes": 1}, "2 or more"),
                                    ({"boxes": 2, "cluster": "strix-halo-x2-10gbe"}, "not both"),
                                    ({"boxes": 2, "link": "nope"}, "unknown link"), ({"cluster": "nope"}, "unknown cluster")])
def test_bad_cluster_arguments_are_bad_input(kw, msg):
    with pytest.raises(VttError, match=msg) as e:
        optimize(editors="roo", models=["gpt-oss-20b"], **kw)
    assert e.value.exit_code == 2


def test_vtt_check_recomputes_every_box_and_refuses_a_split_model_put_on_one_box(glm_split, tmp_path):
    import json

    policy, plan = glm_split
    world, eds, pol = load_inputs([policy], "roo")
    f = tmp_path / "plan.json"
    f.write_text(json.dumps(plan))
    ok = check_plan(read_plan(f), world, pol, eds, hardware=plan["hardware"])
    assert ok["ok"], ok["violations"]
    assert len(ok["box_budgets_gib"]) == 2 and all(len(s["box_gib"]) == 2 for s in ok["resident_sets"])
    bad = copy.deepcopy(plan)
    for s in bad["resident_sets"]:
        for m in s["models"]:
            m["split"] = None          # claim the 200 GiB model runs on the main box alone
    f.write_text(json.dumps(bad))
    v = check_plan(read_plan(f), world, pol, eds, hardware=plan["hardware"])
    assert not v["ok"] and any("on box1" in x for x in v["violations"]), v


def _flags_in_arg_cpp() -> set[str]:
    import re

    return set(re.findall(r'"(-{1,2}[A-Za-z0-9][A-Za-z0-9-]*)"', ARG_CPP.read_text()))


def test_llama_swap_export_of_a_split_model_names_the_rpc_servers(glm_split):
    _, plan = glm_split
    ex = export(plan, "llama-swap", Target())
    assert "ggml-rpc-server -H 0.0.0.0 -p 50052" in ex.text and "on box2" in ex.text
    cfg = yaml.safe_load(ex.text)
    for m in cfg["models"].values():
        argv = shlex.split(m["cmd"])
        assert argv[argv.index("--rpc") + 1] == "BOX2_HOST:50052"     # --boxes: no endpoints, a named placeholder
        assert "-ts" not in argv and "-dev" not in argv            # no tensor split planned, the main GPU used
        if ARG_CPP.is_file():
            assert {a for a in argv if a.startswith("-")} <= _flags_in_arg_cpp()


def test_export_from_a_cluster_spec_uses_its_endpoints_tensor_split_and_devices(tmp_path):
    # cpu-loopback-2: every device an rpc-server on 127.0.0.1, tensor_split [1, 1]; a tiny budget forces a split
    pol = relaxed_policy(tmp_path, min_tg=0.01, max_ttft=1e5)
    plan = optimize(editors="roo", models=["llama-3.2-3b"], cluster="cpu-loopback-2", budget_gib=8,
                    policies=[pol]).to_json()
    m = plan["resident_sets"][0]["models"][0]
    assert m["split"] and m["split"]["main_device"] is False
    argv = shlex.split(yaml.safe_load(export(plan, "llama-swap", Target()).text)["models"][m["server"]]["cmd"])
    assert argv[argv.index("--rpc") + 1] == "127.0.0.1:50052,127.0.0.1:50053"
    assert argv[argv.index("-ts") + 1] == "1,1"
    assert argv[argv.index("-dev") + 1] == "RPC0,RPC1"
    if ARG_CPP.is_file():
        assert {a for a in argv if a.startswith("-")} <= _flags_in_arg_cpp()


def test_split_memory_per_box_adds_up_to_the_devices(glm_split):
    _, plan = glm_split
    for s in plan["resident_sets"]:
        for m in s["models"]:
            by_box = {b: 0.0 for b in m["split"]["boxes"]}
            for d in m["split"]["devices"]:
                by_box[d["box"]] += d["total_gib"]
            got = np.array(m["box_gib"]) - np.array([plan["policy"]["cache_ram_gib"], 0.0])
            assert np.allclose(got, list(by_box.values()), atol=2e-3)


def test_a_mixed_cluster_prices_each_box_at_its_own_speed_and_budget(tmp_path, monkeypatch):
    # a Strix Halo main box beside an H200 rpc-server box: the H200's layers run at its one-box speed
    from test_cluster import mixed_cluster_world

    w = mixed_cluster_world(tmp_path, monkeypatch)
    pol = relaxed_policy(tmp_path)
    mixed = optimize(editors="roo", models=["glm-4.7"], cluster="mixed", policies=[pol], world=w).to_json()
    two = optimize(editors="roo", models=["glm-4.7"], boxes=2, policies=[pol], world=w).to_json()
    h200 = w.get_hardware("h200-141")
    assert mixed["cluster"]["boxes"][1]["budget_gib"] == pytest.approx(
        min(h200.gpu_addressable_gib, h200.memory_gib) - yaml.safe_load(pol.read_text())["headroom_gib"], abs=1e-3)
    by_mode = {a["mode"]: a for a in two["assignments"]}
    compared = 0
    for a in mixed["assignments"]:
        assert a["split"] and a["split"]["cluster"] == "mixed"
        if a["quant"] == by_mode[a["mode"]]["quant"]:
            assert a["tg_tps"] > by_mode[a["mode"]]["tg_tps"]      # half the layers on a far faster box
            compared += 1
    assert compared
    cmd = yaml.safe_load(export(mixed, "llama-swap", Target()).text)["models"]
    assert all("--rpc gpu.lan:50052" in m["cmd"] for m in cmd.values())


def test_a_link_given_with_a_cluster_spec_prices_that_link():
    fast = optimize(editors="roo", models=["gpt-oss-20b"], cluster="strix-halo-x2-10gbe", budget_gib=16).to_json()
    slow = optimize(editors="roo", models=["gpt-oss-20b"], cluster="strix-halo-x2-10gbe", link="2.5gbe",
                    budget_gib=16).to_json()
    assert slow["cluster"]["link"] == "2.5gbe" and slow["cluster"]["query"]["link"] == "2.5gbe"
    a, b = fast["assignments"][0], slow["assignments"][0]
    assert a["split"] and b["split"] and b["split"]["link"] == "2.5gbe"
    assert b["split"]["network_ms_per_token"] > a["split"]["network_ms_per_token"]


def test_no_plan_even_on_the_cluster_says_the_split_does_not_fit_either():
    with pytest.raises(Infeasible, match="does not fit even split over 2 boxes on 10gbe: box1 needs"):
        optimize(editors="roo", models=["gpt-oss-20b"], cluster="strix-halo-x2-10gbe", budget_gib=12)
