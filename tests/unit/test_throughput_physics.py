"""The speed model's physics on catalog models: depth behaviour by architecture kind."""

import pytest

from vtt.plan import plan_many


def tg_at(model, quant, depth, **kw):
    a = plan_many([{"model": model, "quant": quant, "context": depth + 64, "depth": depth, "n_prompt": 1, "n_gen": 32,
                    "backend": "vulkan-radv", **kw}])[0]
    assert "error" not in a, a
    return a["tg_tps"]


def test_full_mha_collapses_with_depth_while_hybrid_stays_flat():
    llama = tg_at("llama-2-7b", "Q4_0", 32768) / tg_at("llama-2-7b", "Q4_0", 0)
    hybrid = tg_at("qwen3.5-122b-a10b", "UD-Q4_K_XL", 32768) / tg_at("qwen3.5-122b-a10b", "UD-Q4_K_XL", 0)
    assert llama < 0.3
    assert hybrid > 0.8


def test_flash_attention_off_is_slower_at_depth():
    assert tg_at("llama-3.1-8b", "Q4_K_M", 16384, flash_attn=False) < tg_at("llama-3.1-8b", "Q4_K_M", 16384)


def test_predict_rows_gives_an_interval_around_the_prediction():
    from vtt.calibrate.predict_rows import predict_rows

    out = predict_rows([{"model_filename": "llama-2-7b.Q4_0.gguf", "model_size": int(3.56 * 2**30), "n_prompt": 0,
                         "n_gen": 128, "n_depth": 0, "flash_attn": 1, "n_ubatch": 512, "backends": "Vulkan"},
                        {"model_filename": "no-such-model.gguf", "n_prompt": 512, "n_gen": 0}])
    tps, lo, hi = out[0]
    assert lo < tps < hi and 35 < tps < 80
    assert out[1] is None


def _features(**over):
    import numpy as np

    from vtt.cost.throughput import FAMILIES, SpeedFeatures

    one = np.ones(1)
    base = dict(
        w_decode_bytes=4e9 * one, w_stream_bytes=4e9 * one, p_active=7e9 * one, is_moe=np.zeros(1, bool),
        family_idx=np.full(1, FAMILIES.index("k")), n_layers=32 * one, n_moe_layers=0 * one, n_rec_layers=0 * one,
        kv_full_bytes_per_cell=131072 * one, kv_swa_bytes_per_cell=0 * one, swa_cells=0 * one, state_bytes=0 * one,
        attn_flops_full=2.0 * 32 * 256 * 32 * one, attn_flops_swa=0 * one, n_prompt=2048 * one, n_gen=0 * one,
        depth=32768 * one, n_ubatch=512 * one, flash_attn=np.ones(1, bool), bw_bytes_s=256e9 * one,
        peak_flops=59.4e12 * one)
    return SpeedFeatures(**{**base, **over})


def test_prefill_kv_rereads_follow_kv_heads_not_query_heads():
    """Same attention FLOPs, 4x the KV bytes (MHA vs GQA 4): prefill at depth is slower, at depth 0 barely."""
    from vtt.cost.throughput import PARAM_DEFAULTS, prefill_time_s

    gqa = prefill_time_s(_features(), PARAM_DEFAULTS)[0]
    mha = prefill_time_s(_features(kv_full_bytes_per_cell=4 * 131072 * _features().n_prompt ** 0), PARAM_DEFAULTS)[0]
    assert mha > 1.1 * gqa
    d0 = {"depth": 0 * _features().depth, "n_prompt": 512 * _features().depth ** 0}
    assert prefill_time_s(_features(**d0, kv_full_bytes_per_cell=4 * 131072 * _features().depth ** 0), PARAM_DEFAULTS)[0] \
        < 1.1 * prefill_time_s(_features(**d0), PARAM_DEFAULTS)[0]


def test_expert_matvec_factor_touches_only_routed_expert_bytes():
    from vtt.cost.throughput import PARAM_DEFAULTS, FAMILIES, decode_time_s

    p = {**PARAM_DEFAULTS, "dqx_bf16": 0.25}
    bf16 = FAMILIES.index("bf16") * _features().depth ** 0
    dense = _features(family_idx=bf16.astype(int), depth=0 * bf16)
    moe = _features(family_idx=bf16.astype(int), depth=0 * bf16, w_expert_decode_bytes=3e9 * bf16)
    assert decode_time_s(dense, p, 0)[0] == decode_time_s(dense, PARAM_DEFAULTS, 0)[0]
    assert decode_time_s(moe, p, 0)[0] > 2 * decode_time_s(moe, PARAM_DEFAULTS, 0)[0]


def test_fewer_query_heads_per_kv_head_cost_more_per_kv_byte():
    from vtt.cost.throughput import PARAM_DEFAULTS, decode_time_s

    one = _features().depth ** 0
    assert decode_time_s(_features(gqa=1 * one), PARAM_DEFAULTS, 32768)[0] > decode_time_s(_features(gqa=8 * one), PARAM_DEFAULTS, 32768)[0]


def test_no_flash_attention_pays_for_materialised_scores_by_query_heads():
    """Without FA the KQ scores (n_head per cell) go through memory: more query heads, slower prefill."""
    from vtt.cost.throughput import PARAM_DEFAULTS, prefill_time_s

    one = _features().depth ** 0
    nofa = {"flash_attn": 0 * one > 1}
    few = prefill_time_s(_features(**nofa, kq_heads_full=8 * 32 * one, kq_heads_swa=0 * one), PARAM_DEFAULTS)[0]
    many = prefill_time_s(_features(**nofa, kq_heads_full=64 * 32 * one, kq_heads_swa=0 * one), PARAM_DEFAULTS)[0]
    assert many > 1.2 * few
    fa = {"kq_heads_full": 64 * 32 * one, "kq_heads_swa": 0 * one}
    assert prefill_time_s(_features(**fa), PARAM_DEFAULTS)[0] == prefill_time_s(_features(), PARAM_DEFAULTS)[0]


def test_a_fallback_fa_path_slows_attention_by_its_efficiency():
    """AMDVLK runs a 576-wide (MLA) head on the scalar shader: attention costs 1 / fa_eff_scalar more."""
    import numpy as np

    from vtt.cost.attention import PATHS
    from vtt.cost.throughput import PARAM_DEFAULTS, prefill_time_s

    one = _features().depth ** 0
    ref = np.full(len(one), PATHS.index("coopmat1"))
    scal = np.full(len(one), PATHS.index("scalar"))
    attn_only = {"p_active": 0 * one, "w_stream_bytes": 0 * one, "kv_full_bytes_per_cell": 0 * one}
    fast = prefill_time_s(_features(fa_ref=ref, fa_path_full=ref, fa_path_swa=ref, **attn_only), PARAM_DEFAULTS)[0]
    slow = prefill_time_s(_features(fa_ref=ref, fa_path_full=scal, fa_path_swa=ref, **attn_only), PARAM_DEFAULTS)[0]
    t_fixed = prefill_time_s(_features(fa_ref=ref, fa_path_full=ref, fa_path_swa=ref, **attn_only,
                                       attn_flops_full=0 * one, attn_flops_swa=0 * one), PARAM_DEFAULTS)[0]
    assert abs((slow - t_fixed) / (fast - t_fixed) - 1 / PARAM_DEFAULTS["fa_eff_scalar"]) < 1e-6


def test_shared_expert_adds_dispatch_time_per_token():
    from vtt.cost.throughput import PARAM_DEFAULTS, decode_time_s

    one = _features().depth ** 0
    base = _features(is_moe=one > 0, n_moe_layers=40 * one)
    shexp = _features(is_moe=one > 0, n_moe_layers=40 * one, n_shexp_layers=40 * one)
    dt = decode_time_s(shexp, PARAM_DEFAULTS, 0)[0] - decode_time_s(base, PARAM_DEFAULTS, 0)[0]
    assert abs(dt - 40 * PARAM_DEFAULTS["shexp_layer_share"] * PARAM_DEFAULTS["t_layer_us"] * 1e-6) < 1e-9


def test_few_rows_per_expert_slow_only_the_routed_expert_share_of_prefill():
    import numpy as np

    from vtt.cost import throughput

    def pp(n_ubatch, p_exp, frac=8 / 256):
        f = _features(is_moe=np.array([True]), n_prompt=np.array([2048.0]), n_ubatch=np.array([n_ubatch]),
                      p_active=np.array([3e9]))
        f.n_expert_frac = np.array([frac])
        f.p_expert_active = np.array([p_exp])
        return throughput.pp_tps(f, dict(throughput.PARAM_DEFAULTS))[0]

    # 16 rows per expert at -ub 512 vs 64 at -ub 2048: the bigger ubatch fills the expert GEMM tiles
    assert pp(2048, 1e9) > pp(512, 1e9)
    # without routed-expert params there is nothing to slow down
    assert abs(pp(2048, 0.0) - pp(512, 0.0)) / pp(512, 0.0) < 0.05
    # at the reference 32 rows per expert the factor is 1: moe_pp keeps its meaning
    f32 = pp(512, 1e9, frac=32 / 512)
    assert abs(f32 - pp(512, 0.0, frac=32 / 512)) / f32 < 1e-9


def test_a_short_moe_ubatch_streams_and_computes_only_the_experts_its_tokens_touch():
    """A one-token prompt of an MoE routes to `used` experts at one row each: its prefill reads what a
    decode step reads, not every expert, and runs no near-empty GEMM tiles. Full ubatches touch every
    expert, as before."""
    from vtt.cost import throughput
    from vtt.plan import plan_many

    touched, rows = throughput.expert_rows([1, 8, 512], 8 / 128)
    assert touched[0] == pytest.approx(8 / 128) and rows[0] == pytest.approx(1.0)
    assert rows[1] >= 1.0 and touched[2] > 1 - 1e-9 and rows[2] == pytest.approx(32.0)
    qs = [{"model": m, "quant": "Q8_0", "context": 4096, "n_prompt": p, "n_gen": 1}
          for m in ("qwen3-30b-a3b-instruct-2507", "deepseek-v3") for p in (1, 512)]
    (q1, q512, d1, d512) = plan_many(qs)
    # one prompt token costs about one decode step (plus the fixed cost of a ubatch), not 12x more
    assert 0.6 * q1["tg_tps"] < q1["pp_tps"] < 1.1 * q1["tg_tps"], q1
    assert 0.6 * d1["tg_tps"] < d1["pp_tps"] < 1.1 * d1["tg_tps"], d1
    assert q512["pp_tps"] > 10 * q1["pp_tps"]


def test_hip_vec_decode_kernel_scales_only_its_kv_bytes():
    """kv_vec prices the KV bytes of layers that decode on HIP's vec kernel; weights, other rows and
    runs without flash attention are untouched."""
    import numpy as np

    from vtt.cost.throughput import PARAM_DEFAULTS, decode_time_s

    one = _features().depth ** 0
    slow = {**PARAM_DEFAULTS, "kv_vec": 2.0}
    vec = _features(dec_vec_full=one)
    tile = _features(dec_vec_full=0 * one)
    assert decode_time_s(vec, slow, 32768)[0] > 1.3 * decode_time_s(vec, PARAM_DEFAULTS, 32768)[0]
    assert decode_time_s(tile, slow, 32768)[0] == decode_time_s(tile, PARAM_DEFAULTS, 32768)[0]
    assert decode_time_s(vec, slow, 0)[0] == decode_time_s(vec, PARAM_DEFAULTS, 0)[0]
    nofa = _features(dec_vec_full=one, flash_attn=np.zeros(1, bool))
    assert decode_time_s(nofa, slow, 32768)[0] == decode_time_s(nofa, PARAM_DEFAULTS, 32768)[0]


def test_prompt_pays_the_output_projection_once_per_ubatch_not_per_token():
    """llama-bench and llama-server ask logits of a prompt's last token only: a 0.5B-param lm_head
    (248K vocab x 2048) is charged once per ubatch, so prefill is faster by ~its share of the FLOPs,
    while decode (every token returns logits) is unchanged."""
    import numpy as np

    from vtt.cost.throughput import PARAM_DEFAULTS, prefill_time_s, tg_tps

    d0 = {"depth": np.zeros(1), "n_prompt": np.full(1, 512.0), "p_active": np.full(1, 3e9)}
    before = prefill_time_s(_features(**d0), PARAM_DEFAULTS)[0]
    after = prefill_time_s(_features(**d0, p_output=np.full(1, 0.5e9)), PARAM_DEFAULTS)[0]
    t_mm = 2.0 * 3e9 * 512 / (PARAM_DEFAULTS["ce_k"] * 59.4e12)
    assert abs((before - after) - t_mm * (0.5 / 3) * (1 - 1 / 512)) < 1e-9
    gen = {"n_prompt": np.zeros(1), "n_gen": np.full(1, 128.0), "depth": np.zeros(1)}
    assert tg_tps(_features(**gen, p_output=np.full(1, 0.5e9)), PARAM_DEFAULTS)[0] == tg_tps(_features(**gen), PARAM_DEFAULTS)[0]


def test_catalog_features_carry_the_output_projection():
    """speed_features gives p_output = n_embd x n_vocab (tied or not), a part of p_active."""
    import numpy as np

    from vtt.cost.predict import speed_features
    from vtt.plan import resolve_model
    from vtt.specs.catalog import load_world

    world = load_world()
    hw = world.get_hardware("strix-halo-128")
    q = {"context": np.array([4096]), "depth": np.array([0]), "n_prompt": np.array([512]), "n_gen": np.array([0]),
         "n_ubatch": np.array([512]), "parallel": np.array([1]), "flash_attn": np.array([True]),
         "type_k": ["f16"], "type_v": ["f16"]}
    for model, quant in (("qwen3-30b-a3b", "Q4_K_M"), ("gemma-3-4b", "Q4_K_M")):
        rm = resolve_model(world, model, quant, None)
        f = speed_features(rm, hw, q, world.get_backend("vulkan-radv"))
        assert f.p_output[0] == rm.arch.n_embd * rm.arch.n_vocab
        assert 0.05 < f.p_output[0] / f.p_active[0] < 0.3  # 152K / 262K vocabularies on 3-4B active params
