"""`vtt plan`'s time_terms (and --explain): the cost model's named terms, adding up to its answers."""

import pytest


def test_named_terms_add_up_to_the_times_the_speeds_come_from():
    """vtt plan --explain's terms are the cost model's own: prefill_time_s and decode_time_s are their sums,
    the rocBLAS blend of an older HIP build with hipBLASLt unknown included."""
    from vtt.plan import plan

    for q in ({"model": "qwen3.6-35b-a3b", "quant": "UD-Q4_K_XL", "depth": 8192, "context": 16384},
              {"model": "llama-2-7b", "quant": "Q4_0", "backend": "rocm", "build": 6077, "flash_attn": False},
              {"model": "gpt-oss-20b", "quant": "MXFP4", "depth": 4096, "context": 8192, "n_ubatch": 2048}):
        a = plan({**q, "explain": True})
        pp, tg = a.time_terms["pp_s"], a.time_terms["tg_ms_per_token"]
        assert a.n_prompt / sum(pp.values()) == pytest.approx(a.pp_tps, rel=0.005), q
        assert 1000 / sum(tg.values()) == pytest.approx(a.tg_tps, rel=0.005), q
    assert plan({"model": "llama-2-7b", "quant": "Q4_0", "backend": "rocm", "build": 6077, "explain": True}).time_terms["pp_s"]["rocblas_tensile"] > 0
    assert not hasattr(plan({"model": "llama-2-7b"}), "time_terms")
