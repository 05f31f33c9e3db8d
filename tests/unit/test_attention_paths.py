"""The FA kernel-path rule mirrors llama.cpp's dispatch for the backends vtt ships."""

import pytest

from vtt.cost import attention
from vtt.specs.catalog import load_world


@pytest.fixture(scope="module")
def world():
    return load_world()


def path(world, backend, width, gqa):
    be = world.get_backend(backend)
    return str(attention.fa_path(be.api, be.device.model_dump(), [width], [gqa])[0])


def test_coopmat1_tile_fits_32k_below_width_512_only():
    # ggml_vk_flash_attn_coopmat_shmem_support with Br 16, Bc 64, f32 accumulators
    sizes = attention.coopmat1_shmem_bytes([256, 512, 576])
    assert sizes[0] <= 32768 < sizes[1] < sizes[2] <= 65536
    assert sizes[1] == 34160


@pytest.mark.parametrize("width,expect", [(128, "coopmat1"), (256, "coopmat1"), (512, "scalar"), (576, "scalar")])
def test_amdvlk_falls_back_to_scalar_at_wide_heads(world, width, expect):
    assert path(world, "vulkan-amdvlk", width, 8) == expect


@pytest.mark.parametrize("width", [128, 512, 576])
def test_radv_keeps_coopmat1_with_64k_shared_memory(world, width):
    assert path(world, "vulkan-radv", width, 8) == "coopmat1"


@pytest.mark.parametrize("width,gqa,expect", [(128, 8, "mma"), (256, 2, "mma"), (128, 1, "tile"), (512, 8, "tile"),
                                              (576, 20, "tile")])
def test_hip_uses_wmma_only_for_gqa_and_width_up_to_256(world, width, gqa, expect):
    assert path(world, "rocm", width, gqa) == expect


def test_coopmat2_is_nvidia_only(world):
    assert path(world, "vulkan-nvidia", 576, 20) == "coopmat2"
    assert all(path(world, b, 128, 8) != "coopmat2" for b in ("vulkan-radv", "vulkan-amdvlk"))


def test_gemma4_layer_groups_get_their_own_paths_on_amdvlk(world):
    from vtt.cost.predict import speed_features
    from vtt.plan import resolve_model

    import numpy as np

    rm = resolve_model(world, "gemma-4-31b", "Q4_K_M", None)
    q = {"context": np.array([4096]), "depth": np.array([0]), "n_prompt": np.array([512]), "n_gen": np.array([0]),
         "n_ubatch": np.array([512]), "parallel": np.array([1]), "flash_attn": np.array([True]),
         "type_k": ["f16"], "type_v": ["f16"]}
    f = speed_features(rm, world.get_hardware("strix-halo-128"), q, world.get_backend("vulkan-amdvlk"))
    assert attention.PATHS[f.fa_path_full[0]] == "scalar"  # 512-wide global layers
    assert attention.PATHS[f.fa_path_swa[0]] == "coopmat1"  # 256-wide sliding layers
    assert f.head_width_swa[0] == 256 and f.gqa_swa[0] == 2


@pytest.mark.parametrize("model,kind", [("llama-2-7b", "MHA"), ("llama-3.1-8b", "GQA"), ("glm-4.7-flash", "MLA"),
                                        ("gemma-4-31b", "wide-head"), ("qwen3.5-122b-a10b", "SWA/hybrid")])
def test_attention_kind_labels(world, model, kind):
    assert attention.attention_kind(world.models[model]) == kind


def decodes_vec(world, backend, width, gqa, quantized=False):
    be = world.get_backend(backend)
    return bool(attention.decode_vec(be.api, be.device.model_dump(), [width], [gqa], [quantized])[0])


@pytest.mark.parametrize("width,gqa,quantized,expect", [
    (128, 1, False, True),    # MHA: no gqa_opt -> vec kernel (fattn.cu l.705-711)
    (128, 8, False, False),   # GQA 8 at width 128: 8 packed columns are not > 8 -> tile kernel
    (256, 6, False, False),   # Qwen3.6 27B: tile
    (128, 16, False, False),  # packed columns capped at 8 (ncols2_max): 8 is not > 8 -> tile
    (128, 8, True, True),     # quantized K/V take the vec kernel for one query row (l.713-715)
    (576, 1, False, False),   # no vec instance beyond width 256
])
def test_hip_decode_kernel_follows_the_gqa_opt_rule(world, width, gqa, quantized, expect):
    assert decodes_vec(world, "rocm", width, gqa, quantized) is expect


def test_vulkan_decode_is_never_the_hip_vec_kernel(world):
    assert not decodes_vec(world, "vulkan-radv", 128, 1)
    assert not decodes_vec(world, "vulkan-amdvlk", 128, 1)


def _features(world, model, backend, depth):
    import numpy as np

    from vtt.cost.predict import speed_features
    from vtt.plan import resolve_model

    rm = resolve_model(world, model, None, None)
    q = {"context": np.array([depth + 2048]), "depth": np.array([depth]), "n_prompt": np.array([2048]),
         "n_gen": np.array([0]), "n_ubatch": np.array([512]), "parallel": np.array([1]),
         "flash_attn": np.array([True]), "type_k": ["f16"], "type_v": ["f16"]}
    return rm, speed_features(rm, world.get_hardware("strix-halo-128"), q, world.get_backend(backend))


def test_vulkan_sliding_layers_compute_the_window_hip_the_whole_view(world):
    # llama.cpp sizes a sliding layer's view pad(n_swa + ubatch, 256); Vulkan FA skips the all -inf
    # blocks outside the window, HIP's KV_max trims only the trailing ones (attention.swa_fa_cells)
    rm, vk = _features(world, "gpt-oss-20b", "vulkan-radv", 32768)
    _, hip = _features(world, "gpt-oss-20b", "rocm", 32768)
    w = rm.arch.swa_window
    assert vk.swa_cells[0] == hip.swa_cells[0] == 768  # pad(128 + 512, 256)
    assert hip.swa_fa_cells[0] == 768
    assert w < vk.swa_fa_cells[0] == w + 16 + 64 < 768


def test_skipped_sliding_blocks_make_vulkan_prefill_cheaper_not_full_layers(world):
    import dataclasses

    import numpy as np

    from vtt.cost import throughput

    _, f = _features(world, "gpt-oss-20b", "vulkan-radv", 32768)
    whole = dataclasses.replace(f, swa_fa_cells=None)
    t_win, t_all = throughput.prefill_time_s(f, {}), throughput.prefill_time_s(whole, {})
    assert t_win[0] < t_all[0]
    # only the sliding layers' share moves: with no sliding FLOPs or KV the two agree
    no_swa = {k: 0 * getattr(f, k) for k in ("attn_flops_swa", "kv_swa_bytes_per_cell")}
    assert np.allclose(throughput.prefill_time_s(dataclasses.replace(f, **no_swa), {}),
                       throughput.prefill_time_s(dataclasses.replace(whole, **no_swa), {}))
