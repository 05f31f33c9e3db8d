"""DeepSeek-V4's compressed attention: the caches llama_kv_cache_dsv4 allocates (pinned llama.cpp,
src/llama-kv-cache-dsv4.cpp), the GGUF keys llama.cpp reads for it (models/deepseek4.cpp), and the
speed model's attention cost growing with context / 4 (CSA) and / 128 (HCA), not with the context."""

import gguf
import numpy as np
import pytest

from vtt.cost import memory
from vtt.errors import GgufError
from vtt.gguf.arch import arch_from_header
from vtt.gguf.reader import read_gguf_header
from vtt.plan import plan
from vtt.specs.catalog import load_world
from vtt.specs.model_arch import ModelArch

RATIOS = [0, 0] + [4 if i % 2 == 0 else 128 for i in range(41)]


@pytest.fixture(scope="module")
def dsv4():
    return load_world().model("deepseek-v4-flash")


def llama_cpp_kv_bytes(n_ctx: int, n_ubatch: int = 512, bk: float = 2.0, n_seq: int = 1) -> float:
    """The sizes llama_kv_cache_dsv4's constructor logs, for DeepSeek-V4-Flash (43 layers, 21 CSA,
    20 HCA, K 512 wide, indexer keys 128), written out from the source, not from vtt's code."""
    pad = lambda x: -(-x // 256) * 256  # noqa: E731
    n_ctx_seq = pad(pad(n_ctx) // n_seq)
    raw = pad(min(n_ctx_seq, 128 + n_ubatch)) * 43 * 512  # llama_kv_cache_iswa, every layer SWA, K only
    csa = pad(-(-n_ctx_seq // 4)) * 21 * 512  # kv_csa
    lid = pad(-(-n_ctx_seq // 4)) * 21 * 128  # kv_lid
    hca = pad(-(-n_ctx_seq // 128)) * 20 * 512  # kv_hca
    # llama_dsv4_comp_state: kv + score, F32, n_embd_state x state_size: CSA 1024 x 8, HCA 512 x 128, lid 256 x 8
    states = 2 * 4 * (21 * 1024 * 8 + 20 * 512 * 128 + 21 * 256 * 8)
    return n_seq * ((raw + csa + lid + hca) * bk + states)


@pytest.mark.parametrize("ctx", [4096, 32768, 131072, 1048576, 1000])
def test_kv_cache_is_what_llama_kv_cache_dsv4_allocates(dsv4, ctx):
    lay = memory.kv_layout(dsv4, True)
    got = memory.kv_cache_bytes(lay, ctx, "f16", "f16")
    assert got == llama_cpp_kv_bytes(ctx)
    assert memory.kv_cache_bytes(lay, ctx, "q8_0", "q8_0") < got
    # two sequences: every cache per sequence, even unified (unified_raw / unified_compressed false)
    assert memory.kv_cache_bytes(lay, ctx, "f16", "f16", parallel=2) == llama_cpp_kv_bytes(ctx, n_seq=2)


def test_a_million_tokens_of_cache_is_gigabytes_not_a_hundred(dsv4):
    gib = memory.kv_cache_bytes(memory.kv_layout(dsv4, True), 1 << 20, "f16", "f16") / 2**30
    assert 6.5 < gib < 7.0  # read as full attention it was ~88 GB


def test_attention_cost_grows_with_the_compressed_entries(dsv4):
    a = plan({"model": "deepseek-v4-flash", "quant": "UD-IQ2_XXS", "backend": "rocm", "n_prompt": 0, "depth": 0,
              "context": 70000})
    b = plan({"model": "deepseek-v4-flash", "quant": "UD-IQ2_XXS", "backend": "rocm", "n_prompt": 0, "depth": 65536,
              "context": 70000})
    # measured (kyuz0 toolboxes, ROCm, validation/public_heldout): 16.1 -> 11.0 t/s, -31 %
    assert 0.55 < b.tg_tps / a.tg_tps < 0.85


def header(tmp_path, ratios, **extra):
    w = gguf.GGUFWriter(tmp_path / "ds4.gguf", "deepseek4")
    w.add_block_count(len(RATIOS))
    w.add_context_length(1 << 20)
    w.add_embedding_length(4096)
    w.add_head_count(64)
    w.add_head_count_kv(1)
    w.add_key_length(512)
    w.add_value_length(512)
    w.add_sliding_window(128)
    w.add_feed_forward_length(2048)
    w.add_expert_count(256)
    w.add_expert_used_count(6)
    w.add_expert_feed_forward_length(2048)
    w.add_expert_shared_count(1)
    if ratios is not None:
        w.add_array("deepseek4.attention.compress_ratios", ratios)
    for k, v in {"head_count": 64, "key_length": 128, "top_k": 512, **extra}.items():
        w.add_uint32(f"deepseek4.attention.indexer.{k}", v)
    for k, v in {"attention.q_lora_rank": 1024, "attention.output_lora_rank": 1024, "attention.output_group_count": 8,
                 "hyper_connection.count": 4, "rope.dimension_count": 64, "hash_layer_count": 3}.items():
        w.add_uint32(f"deepseek4.{k}", v)
    w.add_token_list([f"t{i}" for i in range(300)])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    return read_gguf_header(tmp_path / "ds4.gguf")


def test_reader_takes_the_compressed_layers_from_the_file(tmp_path, dsv4):
    a = arch_from_header(header(tmp_path, RATIOS + [0]))  # + the MTP layer's entry, as converted files have
    assert a.compressed.ratios == RATIOS and a.compressed.indexer_top_k == 512
    assert (a.compressed.o_groups, a.compressed.hash_layers, a.compressed.rope_dim) == (8, 3, 64)
    assert a.mixers == "S" * 43 and a.swa_window == 128
    lay, ref = memory.kv_layout(a, True), memory.kv_layout(dsv4, True)
    assert memory.kv_cache_bytes(lay, 65536, "f16", "f16") == memory.kv_cache_bytes(ref, 65536, "f16", "f16")


@pytest.mark.parametrize("ratios,why", [(RATIOS[:10], "one ratio per layer"), ([7] * 43, "compress")])
def test_reader_refuses_ratios_llama_cpp_could_not_use(tmp_path, ratios, why):
    with pytest.raises(GgufError, match=why):
        arch_from_header(header(tmp_path, ratios))


def test_spec_refuses_compressed_layers_that_are_not_windowed(dsv4):
    data = dsv4.model_dump()
    with pytest.raises(ValueError, match="layer_pattern all S"):
        ModelArch.model_validate({**data, "layer_pattern": "SS" + "A" * 41})
    with pytest.raises(ValueError, match="entries for 43 layers"):
        ModelArch.model_validate({**data, "compressed": {**data["compressed"], "ratios": [0, 4]}})
    np.testing.assert_equal(ModelArch.model_validate(data).compressed.ratios, RATIOS)
