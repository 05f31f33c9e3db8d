"""The large MoE catalog entries that Strix Halo owners split over two to four boxes (issue 14).

Their shapes come from each model's config.json / GGUF metadata (cited in the YAML); here the
tensors vtt derives from those shapes must add up to the published parameter count, and a model
whose Q4_K_M weights pass one 128 GB box must be refused there while its `--boxes 2/4` plans answer
each box's share and fit the way `vtt plan --json` reports a split."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vtt.cost.weights import mix_rows, profile_from_mix
from vtt.plan import plan_many
from vtt.specs.catalog import default_world

NEW_MODELS = ["glm-4.6", "glm-4.5", "qwen3-coder-480b-a35b", "kimi-k2-instruct"]
ONE_BOX_GB = 230e9  # past this many bytes of weights a 128 GB box cannot hold the model at all
DEVICE_KEYS = {"device", "box", "hardware", "remote", "layers", "output_layer", "weights_gib", "kv_cache_gib",
               "compute_buffer_gib", "host_gib", "total_gib", "budget_gib", "fits"}


def _plan(model, **kw):
    a = plan_many([{"model": model, "quant": "Q4_K_M", "context": 32768, **kw}])[0]
    assert "error" not in a, a
    return a


def _cli(*args):
    r = subprocess.run([sys.executable, "-m", "vtt.cli", "plan", *args, "--json"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("model", NEW_MODELS)
def test_derived_params_match_the_published_total(model):
    w = default_world()
    a = w.models[model]
    derived = profile_from_mix(a, w.quants["Q4_K_M"]).params_total / 1e9
    assert a.params_total_b and abs(derived / a.params_total_b - 1) < 0.03, (derived, a.params_total_b)
    assert a.params_active_b < a.params_total_b and a.is_moe


def test_glm_4_5_and_4_6_have_glm_4_7_tensors():
    # same config shapes (only the trained context differs), so llama.cpp builds the same tensors
    w = default_world()
    ft = w.quants["Q4_K_M"]
    ref = [(n, ne) for n, ne, _ in mix_rows(w.models["glm-4.7"], ft)]
    for m in ("glm-4.6", "glm-4.5"):
        assert [(n, ne) for n, ne, _ in mix_rows(w.models[m], ft)] == ref
    assert w.models["glm-4.5"].n_ctx_train < w.models["glm-4.6"].n_ctx_train


def test_kimi_k2_is_cached_as_an_mla_latent():
    # deepseek2 GGUF: one KV "head" of kv_lora_rank + rope; the cache is far below 64 full heads
    k = _plan("kimi-k2-instruct")
    a = default_world().models["kimi-k2-instruct"]
    assert a.n_head_kv == 1 and a.head_dim_k == a.mla.kv_lora_rank + a.mla.qk_rope_head_dim
    full_heads_gib = a.n_layer * 32768 * a.n_head * (a.mla.qk_nope_head_dim + a.mla.qk_rope_head_dim
                                                     + a.mla.v_head_dim) * 2 / 2**30
    assert 0 < k["kv_cache_gib"] < full_heads_gib / 20


def _check_split(a, one, boxes):
    devs = a["devices"]
    assert len(devs) == boxes and a["boxes"] == boxes
    for d in devs:
        assert DEVICE_KEYS <= set(d), DEVICE_KEYS - set(d)
        assert d["fits"] == (d["total_gib"] <= d["budget_gib"])
    assert a["fits"] == all(d["fits"] for d in devs)
    # llama.cpp: RPC devices first, the main box last with the output layer; layers contiguous from 0
    assert [d["remote"] for d in devs] == [True] * (boxes - 1) + [False] and devs[-1]["output_layer"]
    assert devs[0]["layers"][0] == 0
    assert all(b["layers"][0] == p["layers"][1] + 1 for p, b in zip(devs, devs[1:]))
    assert sum(d["weights_gib"] for d in devs) + devs[-1]["host_gib"] >= one["weights_gib"] - 1e-3
    assert sum(d["kv_cache_gib"] for d in devs) == pytest.approx(one["kv_cache_gib"], abs=1e-3)
    assert a["tg_tps"] < a["tg_tps_one_box"] == one["tg_tps"]


@pytest.mark.parametrize("model", NEW_MODELS)
def test_one_box_refuses_and_two_or_four_boxes_answer_each_box(model):
    one = _plan(model)
    assert one["fits"] is False  # every new entry is past 128 GB at Q4_K_M
    for boxes in (2, 4):
        _check_split(_plan(model, boxes=boxes), one, boxes)
    four = _plan(model, boxes=4)
    two = _plan(model, boxes=2)
    assert max(d["weights_gib"] for d in four["devices"]) < max(d["weights_gib"] for d in two["devices"])


def test_the_cli_json_of_a_split_for_the_big_models():
    w = default_world()
    big = []
    for m in NEW_MODELS:
        one = _cli(m, "--quant", "Q4_K_M", "--context", "32768")
        if one["weights_bytes"] > ONE_BOX_GB:
            big.append((m, one))
    assert {m for m, _ in big} >= {"qwen3-coder-480b-a35b", "kimi-k2-instruct"}
    for m, one in big:
        assert one["fits"] is False and "devices" not in one
        for boxes in ("2", "4"):
            a = _cli(m, "--quant", "Q4_K_M", "--context", "32768", "--boxes", boxes)
            _check_split(a, one, int(boxes))
            assert a["devices"][-1]["layers"][1] >= w.models[m].n_layer_run - 1
        c = _cli(m, "--quant", "Q4_K_M", "--cluster", "strix-halo-x2-10gbe")
        assert c["cluster"] == "strix-halo-x2-10gbe" and len(c["devices"]) == 2 and c["network"]["tg_ms_per_token"] > 0
