"""Unit tests: policy files, quant factors, the MILP on hand-made problems, exports."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from vtt.errors import SpecError
from vtt.optimize.candidates import quant_factor
from vtt.optimize.export import LlamaSwapConfig, claude_code_settings, llama_swap_config, roo_settings
from vtt.optimize.milp import solve
from vtt.optimize.problem import ModeReq, Problem
from vtt.specs.catalog import default_world
from vtt.specs.policy import Policy, load_policies, merge


def _mode(i, ctx=8192):
    return ModeReq(f"e/m{i}", "e", f"m{i}", ctx, 0, 1e9, 0.5, 0.5, 1.0, 0, 1, 1)


def _problem(budget=100.0, never=()):
    # two models, one pair each, one server each at 8192: model 0 is better for both modes
    return Problem(
        modes=[_mode(0), _mode(1)], models=["big", "small"], pair_model=np.array([0, 1]), pair_quant=["Q8_0", "Q8_0"],
        quality=np.zeros(2), srv_pair=np.array([0, 1]), srv_ctx=np.array([8192, 8192]), srv_mem=np.array([60.0, 30.0]),
        srv_load_s=np.zeros(2), value=np.array([[1.0, 0.2], [0.3, 0.9]]), allowed=np.ones((2, 2), dtype=bool),
        swap_s=np.full((2, 2), 100.0), pairs=[(0, 1, 10.0)], never=list(never), budget_gib=budget,
    )


def test_milp_keeps_two_models_together_when_they_fit():
    sol = solve(_problem())
    assert sol.status == "optimal"
    assert sol.mode_pair == [0, 1]
    assert len(sol.sets) == 1


def test_milp_splits_resident_sets_when_the_budget_is_tight():
    sol = solve(_problem(budget=70.0))
    assert sol.mode_pair == [0, 1]           # the swap (10/h x 100 s) costs less than the lost value
    assert len(sol.sets) == 2


def test_split_bound_proves_one_and_two_set_plans():
    one = solve(_problem())
    assert one.proof.startswith("one set; split bound")
    two = solve(_problem(budget=70.0))
    assert two.proof.startswith("2 sets; split bound") and len(two.sets) == 2
    # the value of the two-set plan: both best pairs, two set penalties... (0 here), one swap each way
    assert abs(two.objective - (1.0 + 0.9 - 10.0 / 3600 * 100.0 - 1e-4 * 90.0)) < 1e-9


def test_group_lp_bound_holds_for_every_group():
    # the affine bounds from one group's LP duals must bound every group's exact one-set optimum
    from itertools import product

    from vtt.optimize.milp import _build, _GroupBound, serving_matrix

    p = _problem(budget=70.0)
    p.modes.append(_mode(2))
    p.value = np.array([[1.0, 0.2], [0.3, 0.9], [0.5, 0.6]])
    p.allowed = np.ones((3, 2), dtype=bool)
    p.swap_s = np.full((3, 2), 100.0)
    S = serving_matrix(p)
    lp, mip = _build(p, S, 1, cuts=True), _build(p, S, 1)
    gb = _GroupBound(p, S, lp[:3], (mip[0], mip[1], mip[2]))
    gb.add(np.array([True, False, True]))
    for bits in product([False, True], repeat=3):
        H = np.array(bits)
        if H.any():
            res = gb.exact(H, 10.0)
            assert res is not None and -res.fun <= gb.r0[1] + gb.pi[1][H].sum() + 1e-9


def test_milp_obeys_never_together():
    sol = solve(_problem(never=[(0, 1)]))
    assert len(sol.sets) == 2


def test_milp_reports_a_mode_without_candidates_as_infeasible():
    p = _problem()
    p.allowed[1, :] = False
    sol = solve(p)
    assert sol.status == "infeasible" and "e/m1" in sol.reason


def test_quant_factor_follows_the_perplexity_table():
    w = default_world()
    pol = merge([Policy(quant_ppl_delta={"Q8_0": 0.0026, "Q4_K_M": 0.1754, "Q3_K_M": 0.6569})])
    assert quant_factor(w, "Q8_0", pol) > quant_factor(w, "Q4_K_M", pol) > quant_factor(w, "Q3_K_M", pol)
    assert quant_factor(w, "UD-Q4_K_XL", pol) == pytest.approx(quant_factor(w, "Q4_K_M", pol))


def test_default_policy_encodes_the_seed_memory_rules():
    w = default_world()
    pol = load_policies([w.roots[0] / "policies"], w)
    pairs = {frozenset(p) for p in pol.never_together}
    assert frozenset(("glm-4.7-reap-218b", "qwen3-235b-a22b")) in pairs
    assert frozenset(("glm-4.7-reap-218b", "qwen3-next-80b-a3b")) in pairs


def test_malformed_policy_names_file_line_and_field(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("headroom_gib: 2\npins:\n  roo-code: glm-4.7-flash\n")
    with pytest.raises(SpecError, match=r"p\.yaml:2: field 'pins'.*'roo-code' must be 'editor/mode'"):
        load_policies([f], default_world())


def test_policy_with_an_unknown_model_names_the_line(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("never_together:\n  - [glm-4.7-flash, no-such-model]\n")
    with pytest.raises(SpecError, match=r"p\.yaml:2: field 'never_together.0.1': unknown model 'no-such-model'"):
        load_policies([f], default_world())


PLAN = {
    "policy": {"kv_type": "f16", "cache_ram_gib": 0},
    "resident_sets": [
        {"id": "set1", "total_gib": 50.0, "models": [
            {"model": "glm-4.7-flash", "quant": "Q8_0", "context": 65536, "total_gib": 37.7, "server": "glm-4.7-flash-q8_0"},
            {"model": "gpt-oss-20b", "quant": "MXFP4", "context": 32768, "total_gib": 12.8, "server": "gpt-oss-20b-mxfp4"}]},
        {"id": "set2", "total_gib": 109.0, "models": [
            {"model": "glm-4.7-reap-218b", "quant": "Q3_K_M", "context": 65536, "total_gib": 109.0,
             "server": "glm-4.7-reap-218b-q3_k_m"}]},
    ],
    "assignments": [
        {"editor": "roo", "mode": "code", "server": "glm-4.7-flash-q8_0", "context": 65536},
        {"editor": "roo", "mode": "architect", "server": "glm-4.7-reap-218b-q3_k_m", "context": 65536},
        {"editor": "claude-code", "mode": "plan", "server": "glm-4.7-reap-218b-q3_k_m", "context": 65536},
        {"editor": "claude-code", "mode": "edit", "server": "glm-4.7-flash-q8_0", "context": 65536},
        {"editor": "claude-code", "mode": "chat", "server": "gpt-oss-20b-mxfp4", "context": 32768},
    ],
}


def test_llama_swap_export_loads_back_with_one_group_per_resident_set():
    text = yaml.safe_dump(llama_swap_config(PLAN))
    cfg = LlamaSwapConfig.model_validate(yaml.safe_load(text))
    groups = cfg.routing.router.settings.groups
    assert {g: set(v.members) for g, v in groups.items()} == {
        "set1": {"glm-4.7-flash-q8_0", "gpt-oss-20b-mxfp4"}, "set2": {"glm-4.7-reap-218b-q3_k_m"}}
    assert all(not g.swap and g.exclusive for g in groups.values())
    cmd = cfg.models["glm-4.7-flash-q8_0"].cmd
    assert "-c 65536" in cmd and "--cache-ram 0" in cmd and "-ctk f16" in cfg.models["gpt-oss-20b-mxfp4"].cmd
    assert "-fa on" in cfg.macros["srv"] and "--no-mmap" in cfg.macros["srv"] and "-ngl 999" in cfg.macros["srv"]


def test_llama_swap_schema_refuses_a_model_in_two_groups():
    cfg = llama_swap_config(PLAN)
    cfg["routing"]["router"]["settings"]["groups"]["set2"]["members"].append("gpt-oss-20b-mxfp4")
    with pytest.raises(ValueError, match="one group only"):
        LlamaSwapConfig.model_validate(cfg)


def test_roo_export_maps_each_mode_to_a_profile():
    s = roo_settings(PLAN)["providerProfiles"]
    ids = {c["openAiModelId"]: c["id"] for c in s["apiConfigs"].values()}
    assert s["modeApiConfigs"] == {"code": ids["glm-4.7-flash-q8_0"], "architect": ids["glm-4.7-reap-218b-q3_k_m"]}
    assert all(c["openAiBaseUrl"].endswith("/v1") for c in s["apiConfigs"].values())


def test_claude_code_export_splits_plan_and_edit_with_opusplan():
    s = claude_code_settings(PLAN)
    assert s["model"] == "opusplan"
    assert s["env"]["ANTHROPIC_DEFAULT_OPUS_MODEL"] == "glm-4.7-reap-218b-q3_k_m"
    assert s["env"]["ANTHROPIC_DEFAULT_SONNET_MODEL"] == "glm-4.7-flash-q8_0"
    assert s["env"]["CLAUDE_CODE_ATTRIBUTION_HEADER"] == "0"
    assert not s["env"]["ANTHROPIC_BASE_URL"].endswith("/v1")
