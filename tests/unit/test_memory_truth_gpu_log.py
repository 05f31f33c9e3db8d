"""Memory truth on a real GPU, replayed in CI: llama.cpp's own buffer sizes from the committed
`llama-bench -v` log of the lent H100 (validation/gpu/results/) against vtt's answers for the same
files (rewritten here header-only, so no weights are needed) and contexts."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "validation" / "gpu"))
import matrix  # noqa: E402

from vtt.harness.memory import parse_bench_verbose_log  # noqa: E402
from vtt.plan import plan_many  # noqa: E402


@pytest.fixture(scope="module")
def measured_and_predicted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu-headers")
    files = {matrix.file_name(*m): matrix.write(*m, tmp, header_only=True) for m in matrix.MODELS}
    res = ROOT / "validation" / "gpu" / "results"
    rows = [json.loads(x) for x in (res / "vulkan.jsonl").read_text().splitlines()]
    logs = parse_bench_verbose_log(gzip.decompress((res / "vulkan-stderr.log.gz").read_bytes()).decode())
    assert len(rows) == len(logs) == 72
    qs = [{"model": str(files[Path(r["model_filename"]).name]), "context": r["n_prompt"] + r["n_gen"] + r["n_depth"],
           "n_prompt": 1, "n_gen": 1, "flash_attn": bool(r["flash_attn"]), "hardware": "h100-sxm-80",
           "backend": "vulkan-nvidia", "mla_v_less": True} for r in rows]
    return list(zip(rows, logs, plan_many(qs)))


def test_weights_equal_llama_cpp_model_buffers(measured_and_predicted):
    for row, log, ans in measured_and_predicted:
        assert ans["weights_bytes"] == pytest.approx(sum(log["model"].values()), abs=0.01 * 2**20 * 2), row["model_filename"]


def test_kv_cache_equals_llama_cpp_allocation_for_every_kind(measured_and_predicted):
    """Dense GQA, MoE, sliding window (two caches) and MLA (K only): exact."""
    for row, log, ans in measured_and_predicted:
        assert ans["kv_cache_bytes"] == pytest.approx(log["kv_bytes"], abs=0.01 * 2**20), (row["model_filename"], row["n_depth"])


def test_compute_buffer_within_10_percent_of_llama_cpp(measured_and_predicted):
    for row, log, ans in measured_and_predicted:
        pred = ans["compute_buffer_gib"] * 2**30
        assert pred == pytest.approx(log["compute"]["Vulkan0"], rel=0.10), (row["model_filename"], row["flash_attn"], row["n_depth"])


def test_a_small_vocabulary_compute_buffer_follows_its_layers_and_grows_with_context(tmp_path):
    """llama-server on the H200 (validation/serve/results-h200): a 1B model with a byte-level vocabulary,
    where no logits stage hides the layer stage and the KQ mask copies it reads, 4K-64K context. Its
    device + host compute buffer against vtt's on unified memory (where both count): within 10 %
    (the rule without the layer stage said 8.5 MiB against 57-177)."""
    sys.path.insert(0, str(ROOT / "validation" / "serve"))
    try:
        import models
    finally:
        sys.path.pop(0)
    path = models.write(tmp_path, "chat-1b-f16")
    lines = (ROOT / "validation" / "serve" / "results-h200" / "memory-chat-1b-f16.jsonl").read_text().splitlines()
    measured = {d["n_ctx"]: d["server"]["compute_bytes"] for d in map(json.loads, lines)}
    assert sorted(measured) == [4096, 16384, 32768, 65536]
    answers = plan_many([{"model": str(path), "context": c, "hardware": "strix-halo-128", "backend": "vulkan-radv"}
                         for c in measured])
    for (ctx, meas), ans in zip(measured.items(), answers):
        assert ans["compute_buffer_gib"] * 2**30 == pytest.approx(meas, rel=0.10), ctx


@pytest.mark.parametrize("n_ctx", [65536, 1048576])
def test_deepseek4_caches_and_compute_buffer_against_the_h200(tmp_path, n_ctx):
    """DeepSeek-V4-Flash at 8 of its layers, as llama-fit-params projected it on the H200
    (validation/h200_unseen/results_dsv4/fit_c*.log): every cache and compressor state to the logged
    0.01 MiB, and the compute buffer, which grows with the compressed entries, within 10 %."""
    import re

    log = (ROOT / "validation" / "h200_unseen" / "results_dsv4" / f"fit_c{n_ctx}.log").read_text()
    mib = [float(x) for x in re.findall(r"llama_kv_cache: size =\s+([\d.]+) MiB", log)]
    states = [float(x) for x in re.findall(r"DSV4 \w+ state buffer size =\s+([\d.]+) MiB", log)]
    compute = float(re.search(r"Vulkan0 compute buffer size =\s+([\d.]+) MiB", log).group(1))
    assert len(mib) == 5 and len(states) == 3  # raw (base, window), CSA, HCA, indexer; three states
    path = matrix.write("deepseek-v4-flash", 8, "q4_0", tmp_path, header_only=True)
    (a,) = plan_many([{"model": str(path), "context": n_ctx, "hardware": "h200-141", "backend": "vulkan-nvidia"}])
    assert a["kv_cache_bytes"] == pytest.approx((sum(mib) + sum(states)) * 2**20, abs=8 * 0.005 * 2**20)
    assert a["compute_buffer_gib"] * 1024 == pytest.approx(compute, rel=0.10)
