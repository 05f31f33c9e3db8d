"""A request's times are the sum of the terms they are made of, at the depths they happen."""

from __future__ import annotations

import numpy as np
import pytest

from vtt.calibration import find_calibration
from vtt.cost import throughput
from vtt.cost.predict import predict_speed, speed_features
from vtt.cost.request import gen_seconds, request_features, request_times
from vtt.plan import plan_many, resolve_model
from vtt.specs.catalog import default_world


def _features(model, quant, cached, prompt, output):
    w = default_world()
    rm = resolve_model(w, model, quant, None)
    hw = w.get_hardware("strix-halo-128")
    be = w.get_backend(hw.default_backend)
    cal = find_calibration(w.roots, hw.id, be.id, None, be.defaults)
    n = len(cached)
    ctx = np.asarray(cached) + np.asarray(prompt) + np.asarray(output) + 256
    q = {"context": ctx, "depth": np.asarray(cached), "n_prompt": np.asarray(prompt), "n_gen": np.asarray(output),
         "n_ubatch": np.full(n, 512), "parallel": np.ones(n, dtype=int), "flash_attn": np.ones(n, dtype=bool),
         "type_k": ["f16"] * n, "type_v": ["f16"] * n, "mla_v_less": True}
    return speed_features(rm, hw, q), cal


# gpt-oss-20b has sliding-window layers (the decode time bends at the window); glm-4.7-flash is MLA
@pytest.mark.parametrize("model, quant", [("gpt-oss-20b", "MXFP4"), ("glm-4.7-flash", "Q8_0"), ("qwen3-30b-a3b", "Q4_K_M")])
def test_generation_time_equals_the_token_by_token_sum(model, quant):
    cached, prompt, output = [0, 30000, 0, 100], [150000, 2048, 64, 10], [1000, 512, 3000, 1]
    f, cal = _features(model, quant, cached, prompt, output)
    p = cal.all_params()
    _, f_gen = request_features(f, cached, prompt, output)
    got = gen_seconds(f_gen, p, f_gen.depth, f_gen.n_gen)
    for j in range(len(cached)):
        start = cached[j] + prompt[j]
        fj = throughput.SpeedFeatures(**{k: (v[j:j + 1] if isinstance(v, np.ndarray) else v)
                                         for k, v in vars(f).items()})
        steps = throughput.decode_time_s(fj, p, start + np.arange(output[j]))  # every token at its position
        assert got[j] == pytest.approx(steps.sum(), rel=0.02)


def test_end_to_end_is_prefill_at_the_cached_depth_plus_generation_after_the_prompt():
    cached, prompt, output = [16384], [2048], [1024]
    f, cal = _features("glm-4.7-flash", "Q8_0", cached, prompt, output)
    p = cal.all_params()
    f_pre, f_gen = request_features(f, cached, prompt, output)
    sp_pre = predict_speed(f_pre, p, cal.sigma_log)
    sp_gen = predict_speed(f_gen, p, cal.sigma_log)
    r = request_times(f_gen, p, sp_pre, sp_gen)
    assert r["ttft_s"][0] == pytest.approx(throughput.prefill_time_s(f_pre, p)[0])
    assert r["e2e_s"][0] == pytest.approx(r["ttft_s"][0] + r["gen_s"][0])
    for k in ("ttft", "gen", "e2e"):
        assert r[f"{k}_lo"][0] < r[f"{k}_s"][0] < r[f"{k}_hi"][0]
    # generation after the prompt is slower than the same tokens at depth 0
    assert r["gen_s"][0] > gen_seconds(f_gen, p, np.zeros(1), f_gen.n_gen)[0]


def test_request_answers_agree_with_llama_bench_terms_at_their_depths():
    req, pre, deep = plan_many([
        {"model": "glm-4.7-flash", "cached_tokens": 8192, "prompt_tokens": 4096, "output_tokens": 1000},
        {"model": "glm-4.7-flash", "context": 13312, "depth": 8192, "n_prompt": 4096, "n_gen": 1},
        {"model": "glm-4.7-flash", "context": 13312, "depth": 12288, "n_prompt": 1, "n_gen": 1000},
    ])
    assert req["context"] == 13312 and req["context"] % 256 == 0 and req["depth"] == 8192
    assert req["ttft_s"] == pytest.approx(pre["ttft_s"], rel=1e-3)
    assert req["gen_s"] == pytest.approx(1000 / deep["tg_tps"], rel=0.01)
    assert req["e2e_s"] == pytest.approx(req["ttft_s"] + req["gen_s"], abs=1e-3)
    assert req["kv_cache_gib"] == pytest.approx(pre["kv_cache_gib"])


def test_a_request_that_does_not_fit_its_context_is_refused_but_a_mode_raises_it():
    bad, mode = plan_many([
        {"model": "gpt-oss-20b", "context": 4096, "prompt_tokens": 4000, "output_tokens": 500},
        {"model": "gpt-oss-20b", "context": 4096, "mode": "roo/ask"},
    ])
    assert "cannot hold" in bad["error"]["message"]
    assert mode["context"] >= 14336 + 512 + 512 and any("roo/ask" in w for w in mode["warnings"])
    assert (mode["cached_tokens"], mode["prompt_tokens"], mode["output_tokens"]) == (14336, 512, 512)


def test_request_keys_and_llama_bench_keys_do_not_mix():
    (a,) = plan_many([{"model": "gpt-oss-20b", "prompt_tokens": 10, "output_tokens": 10, "depth": 5}])
    assert "depth" in a["error"]["message"]


def test_a_long_prompt_then_generation_runs_at_the_deep_rate_not_at_depth_zero():
    """The seed's "analyse a 150K codebase": 1000 tokens after a 150K prompt take what tg at depth
    ~150.5K says, several times the depth-0 figure (issue 10: 44 t/s reported where ~6 is real)."""
    r, deep, shallow = plan_many([
        {"model": "glm-4.7-flash", "context": 163840, "cached_tokens": 0, "prompt_tokens": 150000, "output_tokens": 1000},
        {"model": "glm-4.7-flash", "context": 163840, "depth": 150500, "n_prompt": 512, "n_gen": 1},
        {"model": "glm-4.7-flash", "context": 163840, "depth": 0, "n_prompt": 512, "n_gen": 1000},
    ])
    assert r["gen_s"] == pytest.approx(1000 / deep["tg_tps"], rel=0.02)
    assert r["gen_s"] > 2 * 1000 / shallow["tg_tps"]
    assert r["ttft_s"] > 0 and r["e2e_s"] == pytest.approx(r["ttft_s"] + r["gen_s"], abs=1e-3)
