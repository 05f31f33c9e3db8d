"""`across` lets a key field differ on purpose (Vulkan vs CUDA builds of one llama.cpp)."""

from __future__ import annotations

import pytest

from vtt.drift.compare import compare_runs


def _row(backends: str, tps: float, n: int = 6) -> dict:
    ns = int(1e9 * 128 / tps)
    return {"model_filename": "/m/x.gguf", "model_type": "llama 8B F16", "n_prompt": 0, "n_gen": 128,
            "n_depth": 0, "flash_attn": 1, "n_ubatch": 512, "n_batch": 2048, "type_k": "f16", "type_v": "f16",
            "n_gpu_layers": 99, "backends": backends, "embeddings": False,
            "samples_ns": [ns + i * 1000 for i in range(n)], "avg_ts": tps}


def test_different_backends_do_not_match_by_default():
    rep = compare_runs([_row("Vulkan", 140)], [_row("CUDA", 100)])
    assert rep.verdicts == []


def test_across_backends_compares_and_flags_the_slower_build():
    rep = compare_runs([_row("Vulkan", 140)], [_row("CUDA", 100)], across=("backends",))
    (v,) = rep.verdicts
    assert v.verdict == "regression"
    assert v.differences["backends"] == ["Vulkan", "CUDA"]


def test_across_rejects_a_field_that_is_not_in_the_key():
    with pytest.raises(ValueError, match="not a key field"):
        compare_runs([], [], across=("colour",))
