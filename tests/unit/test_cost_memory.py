"""Weights and KV cache against llama.cpp's own numbers (quantize table, KV allocation rules)."""

from __future__ import annotations

import numpy as np
import pytest

from vtt.cost.memory import kv_cache_bytes, kv_cells, kv_layout
from vtt.cost.weights import profile_from_mix
from vtt.specs.catalog import default_world
from vtt.units import GIB


@pytest.mark.parametrize(
    "quant, gib",  # llama.cpp tools/quantize/quantize.cpp QUANT_OPTIONS for Llama-3-8B (quants.md 2.4)
    [("Q8_0", 7.96), ("Q6_K", 6.14), ("Q5_K_M", 5.33), ("Q4_K_M", 4.58), ("Q4_0", 4.34), ("Q3_K_M", 3.74)],
)
def test_llama3_8b_weights_match_llama_quantize_table(quant, gib):
    w = default_world()
    prof = profile_from_mix(w.model("llama-3.1-8b"), w.quant(quant))
    assert prof.total_bytes / GIB == pytest.approx(gib, rel=0.02)


def test_moe_decode_reads_only_active_experts():
    w = default_world()
    a = w.model("qwen3-30b-a3b")
    prof = profile_from_mix(a, w.quant("Q8_0"))
    assert prof.decode_bytes < 0.2 * prof.total_bytes
    assert prof.params_matmul_active / 1e9 == pytest.approx(3.3, rel=0.15)


def test_glm_flash_mla_kv_is_latent_plus_rope_per_layer():
    a = default_world().model("glm-4.7-flash")
    got = kv_cache_bytes(kv_layout(a), 65536, "f16", "f16")
    assert got == 47 * (576 + 512) * 2 * 65536


def test_gpt_oss_swa_layers_hold_window_plus_ubatch_padded():
    a = default_world().model("gpt-oss-20b")
    got = kv_cache_bytes(kv_layout(a), 131072, "f16", "f16")
    assert got == 12 * 2048 * 131072 + 12 * 2048 * 768


def test_swa_full_gives_sliding_layers_the_whole_context():
    a = default_world().model("gpt-oss-20b")
    got = kv_cache_bytes(kv_layout(a), 8192, "f16", "f16", swa_full=True)
    assert got == 24 * 2048 * 8192


def test_qwen3_next_recurrent_state_is_per_sequence_not_per_token():
    a = default_world().model("qwen3-next-80b-a3b")
    lay = kv_layout(a)
    assert lay.recurrent_bytes_per_seq == pytest.approx(75.4 * 2**20, rel=0.01)
    one = kv_cache_bytes(lay, 4096, "f16", "f16", parallel=1)
    four = kv_cache_bytes(lay, 4096, "f16", "f16", parallel=4)
    assert four - one == pytest.approx(3 * lay.recurrent_bytes_per_seq, rel=1e-6)


def test_context_is_padded_to_256_and_split_across_streams():
    full, _ = kv_cells(1000, 1, 512, False, False, 0)
    assert int(full) == 1024
    full, _ = kv_cells(10000, 3, 512, False, False, 0)
    assert int(full) == 3 * 3584  # pad(10240 / 3 = 3413, 256) per stream
    full, _ = kv_cells(10000, 3, 512, True, False, 0)
    assert int(full) == 10240  # unified: one stream of n_ctx


def test_quantized_kv_cache_scales_bytes():
    a = default_world().model("llama-3.1-8b")
    lay = kv_layout(a)
    f16 = kv_cache_bytes(lay, 32768, "f16", "f16")
    q8 = kv_cache_bytes(lay, 32768, "q8_0", "q8_0")
    q4 = kv_cache_bytes(lay, 32768, "q4_0", "q4_0")
    assert f16 == 32 * 2 * 8 * 128 * 2 * 32768
    assert q8 / f16 == pytest.approx(34 / 64)
    assert q4 / f16 == pytest.approx(18 / 64)


def test_kv_cache_is_vectorised():
    a = default_world().model("llama-3.1-8b")
    ctx = np.array([4096, 8192, 16384])
    got = kv_cache_bytes(kv_layout(a), ctx, "f16", "f16")
    assert list(got) == [131072 * c for c in ctx]


def test_mla_v_less_caches_only_the_latent_k():
    """llama.cpp since PR #19067: 576 elements per layer per cell (as the lent GPU's -v log shows:
    16 layers x 512 cells -> 9.00 MiB, V 0.00 MiB)."""
    a = default_world().model("glm-4.7-flash")
    assert kv_cache_bytes(kv_layout(a, mla_v_less=True), 65536, "f16", "f16") == 47 * 576 * 2 * 65536
    dense = default_world().model("llama-3.1-8b")
    assert kv_layout(dense, mla_v_less=True) == kv_layout(dense)


def test_a_file_larger_than_its_recipe_keeps_the_recipe_and_carries_the_rest_unplaced():
    w = default_world()
    prof = profile_from_mix(w.model("qwen3-30b-a3b"), w.quant("Q4_K_M"))
    bigger = prof.scaled_to(prof.total_bytes * 1.07, "catalog-file")
    assert bigger.decode_bytes == prof.decode_bytes
    assert bigger.unplaced_bytes == pytest.approx(0.07 * prof.total_bytes)
    smaller = prof.scaled_to(prof.total_bytes * 0.9, "catalog-file")
    assert smaller.unplaced_bytes == 0 and smaller.decode_bytes == pytest.approx(0.9 * prof.decode_bytes)
