"""The optimizer's request-level times are llama-bench's numbers at the right depths: TTFT is the prefill
of the P new tokens at depth C (-p P -d C), generation runs after the prompt (-n O -d C+P)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vtt.optimize.price import Pricer, resolve_catalog_model
from vtt.plan import plan_many
from vtt.specs.catalog import default_world

W = default_world()
P = Pricer(W, "strix-halo-128")


@settings(max_examples=15, deadline=None)
@given(model=st.sampled_from(["glm-4.7-flash", "gpt-oss-20b", "qwen3-next-80b-a3b", "llama-3.1-8b"]),
       cached=st.integers(0, 60000), prompt=st.integers(1, 8000), output=st.integers(1, 2000))
def test_request_times_are_llama_bench_numbers_at_the_right_depths(model, cached, prompt, output):
    arch = W.model(model)
    quant = arch.files[0].quant if arch.files else "Q4_K_M"
    rm = resolve_catalog_model(W, arch.id, W.quant(quant).id)
    pp, tg, ttft, gen = P.request(rm, [cached], [prompt], [output], "f16")
    ctx = cached + prompt + output
    a_pp, a_tg = plan_many([
        {"model": arch.id, "quant": quant, "context": ctx, "depth": cached, "n_prompt": prompt, "n_gen": 1},
        {"model": arch.id, "quant": quant, "context": ctx, "depth": cached + prompt, "n_prompt": 1, "n_gen": output},
    ], W)
    assert pp[0] == pytest.approx(a_pp["pp_tps"], rel=1e-3, abs=0.01)
    assert tg[0] == pytest.approx(a_tg["tg_tps"], rel=1e-3, abs=0.01)
    assert ttft[0] == pytest.approx(prompt / pp[0]) and gen[0] == pytest.approx(output / tg[0])


def test_generation_after_a_long_prompt_is_slower_than_at_the_cached_depth():
    rm = resolve_catalog_model(W, "glm-4.7-flash", "Q8_0")
    _, tg_after, _, _ = P.request(rm, [0], [150000], [512], "f16")
    _, tg_at_c = P.speed(rm, [0], [1], [512], "f16")
    assert tg_after[0] < tg_at_c[0]
