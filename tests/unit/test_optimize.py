"""Unit tests: policy files, quant factors, the MILP on hand-made problems, exports."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
import yaml

from vtt.errors import SpecError, VttError
from vtt.optimize.export import LlamaSwapConfig, Target, claude_code_settings, export, llama_swap_config, roo_settings
from vtt.optimize.quality import load_quality, model_quality, quant_factor
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
    qd = load_quality(w)
    f = {q: quant_factor(qd, w, q)[0] for q in ("Q8_0", "Q4_K_M", "Q3_K_M", "UD-Q4_K_XL", "IQ2_XXS", "Q2_K")}
    assert f["Q8_0"] > f["Q4_K_M"] > f["Q3_K_M"] > f["Q2_K"]
    assert f["UD-Q4_K_XL"] == pytest.approx(f["Q4_K_M"])
    assert "as Q2_K" in quant_factor(qd, w, "IQ2_XXS")[1]


def test_every_published_score_names_its_url_and_a_known_benchmark():
    w = default_world()
    qd = load_quality(w)
    assert qd.scores, "no scores read"
    for mid, scores in qd.scores.items():
        for s in scores:
            assert s.benchmark in qd.benchmarks and "http" in s.source, (mid, s)
    assert all(b.get("url", "").startswith("https://") for b in qd.benchmarks.values())


def test_an_unscored_model_gets_a_wide_prior_marked_as_such():
    w = default_world()
    qd = load_quality(w)
    q = model_quality(qd, w, "glm-4.7-reap-218b")
    assert q.kind == "prior" and q.note.startswith("prior:") and q.hi - q.lo >= 0.29
    small = model_quality(qd, w, "gemma-3-4b")
    assert small.kind == "prior" and small.value < model_quality(qd, w, "gpt-oss-20b").value
    assert model_quality(qd, w, "gpt-oss-20b").kind == "measured"


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


def test_llama_swap_export_uses_top_level_groups_and_quoted_argument_lists():
    cfg, _ = llama_swap_config(PLAN)
    text = yaml.safe_dump(cfg)
    cfg2 = LlamaSwapConfig.model_validate(yaml.safe_load(text))
    assert cfg2.routing is None
    assert {g: set(v.members) for g, v in cfg2.groups.items()} == {
        "set1": {"glm-4.7-flash-q8_0", "gpt-oss-20b-mxfp4"}, "set2": {"glm-4.7-reap-218b-q3_k_m"}}
    assert all(not g.swap and g.exclusive for g in cfg2.groups.values())
    argv = shlex.split(cfg2.models["glm-4.7-flash-q8_0"].cmd)
    assert argv[argv.index("-c") + 1] == "65536" and argv[argv.index("--cache-ram") + 1] == "0"
    assert "--no-mmap" not in argv and argv[argv.index("-lm") + 1] == "none" and "-ngl" in argv


def test_llama_swap_export_quotes_hostile_file_names():
    plan = json.loads(json.dumps(PLAN))
    plan["resident_sets"][1]["models"][0]["file"] = "x.gguf --rpc 10.0.0.66:50052 $(touch /tmp/pwned)"
    cfg, _ = llama_swap_config(plan)
    argv = shlex.split(cfg["models"]["glm-4.7-reap-218b-q3_k_m"]["cmd"])
    assert "--rpc" not in argv and any(a.endswith("$(touch /tmp/pwned)") for a in argv)


def test_llama_swap_export_refuses_a_build_it_does_not_know_and_old_llama_swap():
    with pytest.raises(VttError, match="unknown llama.cpp build"):
        Target(llama_cpp_build="b1234")
    with pytest.raises(VttError, match="no groups"):
        Target(llama_swap_version=100)


def test_llama_swap_paths_come_from_the_models_dir_scan(tmp_path):
    (tmp_path / "GLM-4.7-Flash-Q8_0.gguf").write_bytes(b"GGUF" + bytes(60))
    (tmp_path / "gpt-oss-20b-mxfp4.gguf").write_bytes(b"GGUF" + bytes(60))
    (tmp_path / "GLM-4.7-REAP-218B-A32B-Q3_K_M-00001-of-00002.gguf").write_bytes(b"GGUF" + bytes(60))
    (tmp_path / "GLM-4.7-REAP-218B-A32B-Q3_K_M-00002-of-00002.gguf").write_bytes(b"GGUF" + bytes(60))
    cfg, notes = llama_swap_config(PLAN, Target(models_dir=tmp_path))
    argv = shlex.split(cfg["models"]["glm-4.7-reap-218b-q3_k_m"]["cmd"])
    assert argv[argv.index("-m") + 1] == str(tmp_path / "GLM-4.7-REAP-218B-A32B-Q3_K_M-00001-of-00002.gguf")
    assert not notes
    (tmp_path / "gpt-oss-20b-mxfp4.gguf").write_bytes(b"not a gguf")
    with pytest.raises(VttError, match="no GGUF file .* for gpt-oss-20b/MXFP4"):
        llama_swap_config(PLAN, Target(models_dir=tmp_path))


def test_llama_swap_schema_refuses_a_model_in_two_groups():
    cfg, _ = llama_swap_config(PLAN)
    cfg["groups"]["set2"]["members"].append("gpt-oss-20b-mxfp4")
    with pytest.raises(ValueError, match="one group only"):
        LlamaSwapConfig.model_validate(cfg)


def test_roo_export_maps_each_mode_to_a_profile_with_ids_unique_per_plan():
    s = roo_settings(PLAN)["providerProfiles"]
    ids = {c["openAiModelId"]: c["id"] for c in s["apiConfigs"].values()}
    assert s["modeApiConfigs"] == {"code": ids["glm-4.7-flash-q8_0"], "architect": ids["glm-4.7-reap-218b-q3_k_m"]}
    assert all(c["openAiBaseUrl"].endswith("/v1") for c in s["apiConfigs"].values())
    other = json.loads(json.dumps(PLAN))
    other["assignments"][0]["context"] = 32768
    ids2 = {c["id"] for c in roo_settings(other)["providerProfiles"]["apiConfigs"].values()}
    assert not ids2 & set(ids.values())
    assert "Import" in " ".join(export(PLAN, "roo").notes)


def test_claude_code_export_keeps_the_main_cache_and_maps_chat_to_the_interactive_model():
    s, notes = claude_code_settings(PLAN)
    env = s["env"]
    assert s["model"] == "opusplan"
    assert env["ANTHROPIC_DEFAULT_OPUS_MODEL"] == "glm-4.7-reap-218b-q3_k_m"
    assert env["ANTHROPIC_DEFAULT_SONNET_MODEL"] == "glm-4.7-flash-q8_0"      # chat and edit: one interactive model
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] != env["ANTHROPIC_DEFAULT_SONNET_MODEL"]   # background: own server
    assert env["CLAUDE_CODE_ATTRIBUTION_HEADER"] == "0" and not env["ANTHROPIC_BASE_URL"].endswith("/v1")
    assert any("65536 tokens" in n for n in notes)
    same = json.loads(json.dumps(PLAN))
    same["assignments"][-1]["server"] = "glm-4.7-flash-q8_0"
    s2, notes2 = claude_code_settings(same)
    assert s2["env"]["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "glm-4.7-flash-q8_0"
    cfg, _ = llama_swap_config(same)
    argv = shlex.split(cfg["models"]["glm-4.7-flash-q8_0"]["cmd"])
    assert argv[argv.index("-np") + 1] == "2" and "-kvu" in argv      # a second slot for background calls


def test_cursor_export_says_a_tunnel_is_needed():
    text = export(PLAN, "cursor").text
    assert "Cursor's servers" in text and "tunnel" in text


def test_a_prior_quality_loses_a_tie_to_the_same_published_score(tmp_path):
    """A twin of Qwen3-Coder-Next without its published score (a user's spec of the same model): its prior
    is the sibling's 69.2 moved by nothing (same family, size and month), so the two tie on every mode;
    the plan takes the model whose score was published."""
    import re

    from vtt.optimize import optimize
    from vtt.specs.catalog import builtin_specs_dir, load_world

    src = (builtin_specs_dir() / "models" / "qwen3-coder-next.yaml").read_text()
    twin = src.replace('id: "qwen3-coder-next"', 'id: "qwen3-coder-next-twin"')
    twin = re.sub(r"^aliases:.*$", "aliases: []", twin, flags=re.M)
    twin = re.sub(r"^quality:\n(  .*\n)*", "", twin, flags=re.M)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "twin.yaml").write_text(twin)
    w = load_world([builtin_specs_dir(), tmp_path])
    qd = load_quality(w)
    guess, known = model_quality(qd, w, "qwen3-coder-next-twin"), model_quality(qd, w, "qwen3-coder-next")
    assert (guess.kind, known.kind) == ("prior", "measured") and guess.value == pytest.approx(known.value)
    # in this order the MILP takes the twin unless the tie is broken (PRIOR_TIE 0: the twin serves)
    plan = optimize(editors="roo", models=["qwen3-coder-next-twin", "qwen3-coder-next"], budget_gib=118,
                    world=w).to_json()
    assert {a["model"] for a in plan["assignments"]} == {"qwen3-coder-next"}


def test_the_quality_prior_follows_the_catalogs_trend_in_size_and_release_date():
    """Without a published score, a model's prior is carried from its family (or, with none, the catalog's
    fit over every scored model) by points per doubling of size and per year of release, both fitted to
    the published scores: an old model gets little for its size, a guess never outranks the best score."""
    w = default_world()
    qd = load_quality(w)
    llama31 = model_quality(qd, w, "llama-3.1-70b")  # 2024-07, its family's scored 70B is from 2024-12
    assert llama31.kind == "prior" and llama31.value < model_quality(qd, w, "llama-3.3-70b").value
    assert model_quality(qd, w, "llama-2-7b").value < 0.05  # 2023: far below any scored model
    a0, per_doubling, per_year, rms, n = qd.trend
    assert per_year > 10 and per_doubling > 0 and n >= 20 and rms < 15
    best = max(model_quality(qd, w, m).value for m in qd.scores)
    assert all(model_quality(qd, w, m).value <= best + 1e-9 for m in w.models)


def test_models_under_the_policys_size_floor_serve_no_mode_unless_pinned(tmp_path):
    """Roo Ask weighs speed 0.8: without the floor Gemma 3 1B (a ~7 % quality prior at 200 t/s) is within 1 % of
    the best value (Qwen3-Coder-Next: 0.1147 vs 0.1157 with the 2026 RADV calibration), so with the floor off it
    competes on value, winning or losing by a hair as the calibration moves; with the floor on it is rejected by
    the floor whatever its value."""
    from vtt.optimize import optimize

    models = ["gemma-3-1b", "gpt-oss-20b", "qwen3-coder-next"]

    def ask_model(policy_text=None):
        pols = None
        if policy_text is not None:
            (tmp_path / "p.yaml").write_text(policy_text)
            pols = [tmp_path / "p.yaml"]
        plan = optimize(editors="roo", models=models, budget_gib=118, policies=pols).to_json()
        return next(a for a in plan["assignments"] if a["mode"] == "ask")

    ask = ask_model()
    assert ask["model"] != "gemma-3-1b" and "min_params_b 3" in json.dumps(ask)
    off = ask_model("min_params_b: 0\n")
    assert not any("min_params_b" in r for r in off["rejected"])
    assert off["model"] == "gemma-3-1b" or any(r.startswith("gemma-3-1b/") and "lower value" in r for r in off["rejected"])
    assert ask_model("pins: {roo/ask: gemma-3-1b}\n")["model"] == "gemma-3-1b"
