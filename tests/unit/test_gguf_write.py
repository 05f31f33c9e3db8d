"""write_random_gguf: files real llama.cpp loads and runs; big shapes cost little memory."""

from __future__ import annotations

import subprocess

import pytest
from gguf_models import TINY, tiny_arch, write_tiny

from vtt.gguf.reader import read_gguf_header
from vtt.gguf.write import shrink_layers, write_random_gguf

CASES = [(k, "f16") for k in sorted(TINY)] + [("gpt-oss", "mxfp4"), ("deepseek2", "q4_0"), ("qwen3moe", "q8_0"),
                                              ("llama", "bf16")]


@pytest.mark.e2e
@pytest.mark.parametrize("kind,wt", CASES)
def test_llama_bench_loads_and_runs_the_written_model(tmp_path, llama_bench, kind, wt):
    path = write_tiny(kind, tmp_path, wt)
    r = subprocess.run([llama_bench, "-m", str(path), "-p", "16", "-n", "4", "-r", "1", "-t", "2", "-o", "csv"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [line for line in r.stdout.splitlines() if str(path) in line]
    assert len(rows) == 2  # pp16 and tg4
    size = int(rows[0].split('","')[7])  # model_size: the bytes llama.cpp loaded
    assert size == read_gguf_header(path).tensor_bytes


def test_fewer_layers_keep_the_layer_kinds(tmp_path):
    a = shrink_layers(tiny_arch("gemma3"), 3)
    assert a.n_layer == 3 and a.mixers == "SSS"
    h = read_gguf_header(write_random_gguf(tiny_arch("gpt-oss"), tmp_path / "g.gguf", n_layer=2))
    assert h.metadata["gpt-oss.block_count"] == 2
    assert {t.name.split(".")[1] for t in h.tensors if t.name.startswith("blk.")} == {"0", "1"}


def test_large_tensor_is_written_by_tiling_a_small_block(tmp_path):
    """A 256 Mi-element embedding is written without materialising it in memory."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = write_tiny("llama", tmp_path, "q4_0", n_vocab=262144, n_embd=1024, head_dim_k=128, head_dim_v=128,
                      n_layer=1, n_ff=1024)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    h = read_gguf_header(path)
    assert h.tensor_bytes > 250 * 2**20 and path.stat().st_size >= h.header_bytes + h.tensor_bytes
    assert grown_kib < 100 * 1024


def test_unknown_weight_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match="weight_type"):
        write_random_gguf(tiny_arch("llama"), tmp_path / "x.gguf", weight_type="q9_z")
