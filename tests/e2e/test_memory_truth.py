"""Memory truth on the CPU build: vtt's weights and KV cache against what llama.cpp itself reports
allocating (`llama-fit-params --fit-print on -v`), for generated models of each attention kind.

The compute buffer is checked against the GPU backend's reports (tests/unit/test_memory_truth_gpu_log.py,
within 10 %): the CPU backend's graph allocator keeps different tensors live (FFN activations, the
mask) and its buffer is not what a GPU user allocates."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from gguf_models import tiny_arch  # noqa: E402

from vtt.gguf.write import write_random_gguf  # noqa: E402
from vtt.harness.memory import measure_llama_memory  # noqa: E402
from vtt.plan import plan_many  # noqa: E402

pytestmark = pytest.mark.e2e

CASES = [  # (kind, overrides, n_ctx, flash_attn)
    ("llama", dict(n_embd=512, n_vocab=4096), 4096, True),
    ("llama", dict(n_embd=512, n_vocab=4096), 4096, False),
    ("qwen3moe", dict(n_embd=512, n_vocab=4096), 8192, True),
    ("gpt-oss", dict(n_embd=512, n_vocab=4096), 8192, True),  # sliding window
    ("deepseek2", dict(n_embd=512, n_vocab=4096), 8192, True),  # MLA (K-only cache in this llama.cpp)
]


@pytest.mark.parametrize("kind, over, n_ctx, fa", CASES, ids=[f"{c[0]}-fa{int(c[3])}" for c in CASES])
def test_weights_and_kv_match_llama_cpp_within_5_percent(llama_bench, tmp_path, kind, over, n_ctx, fa):
    path = write_random_gguf(tiny_arch(kind, **over), tmp_path / f"{kind}.gguf", weight_type="q8_0")
    truth = measure_llama_memory(path, n_ctx=n_ctx, flash_attn=fa, llama_bench=llama_bench)
    (a,) = plan_many([{"model": str(path), "context": n_ctx, "flash_attn": fa, "backend": "cpu",
                       "mla_v_less": True}])
    assert "error" not in a, a
    # with no allocation llama.cpp prints the model in whole MiB: allow that rounding
    weights_tol = max(0.05 * truth["weights_bytes"], 2**20)
    assert abs(a["weights_bytes"] - truth["weights_bytes"]) <= weights_tol, truth
    kv_truth = truth["kv_bytes"] + truth["rs_bytes"]
    assert a["kv_cache_bytes"] == pytest.approx(kv_truth, rel=0.05, abs=16 * 1024)


def test_deepseek4_compressed_caches_match_llama_cpp(llama_bench, tmp_path):
    """DeepSeek-V4 (llama_kv_cache_dsv4): the raw window, CSA, HCA and indexer caches as
    llama-fit-params projects them, and the F32 compressor states as llama-bench allocates them
    (the no-alloc projection leaves the states out)."""
    import re
    import subprocess

    from vtt.cost import memory

    arch = tiny_arch("deepseek4", n_embd=512, n_vocab=4096)
    path = write_random_gguf(arch, tmp_path / "deepseek4.gguf", weight_type="q8_0")
    states = memory.kv_layout(arch, True).comp_state_bytes_per_seq
    for n_ctx, n_seq in ((8192, 1), (65536, 1), (8192, 2)):
        truth = measure_llama_memory(path, n_ctx=n_ctx, n_seq_max=n_seq, llama_bench=llama_bench)
        (a,) = plan_many([{"model": str(path), "context": n_ctx, "backend": "cpu", "parallel": n_seq}])
        assert "error" not in a, a
        # four caches printed in MiB with two decimals: 4 x 0.005 MiB of rounding
        assert a["kv_cache_bytes"] - n_seq * states == pytest.approx(truth["kv_bytes"], abs=4 * 0.005 * 2**20)
    log = subprocess.run([str(llama_bench), "-m", str(path), "-p", "0", "-n", "1", "-r", "1", "-v"],
                         capture_output=True, text=True, timeout=300).stderr
    sizes = [float(x) for x in re.findall(r"DSV4 \w+ state buffer size =\s+([\d.]+) MiB", log)]
    assert len(sizes) == 3, log[-2000:]
    assert states == pytest.approx(sum(sizes) * 2**20, abs=3 * 0.005 * 2**20)
