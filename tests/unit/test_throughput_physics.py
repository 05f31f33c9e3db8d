"""The speed model's physics on catalog models: depth behaviour by architecture kind."""

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
    from vtt.cost.predict import predict_rows

    out = predict_rows([{"model_filename": "llama-2-7b.Q4_0.gguf", "model_size": int(3.56 * 2**30), "n_prompt": 0,
                         "n_gen": 128, "n_depth": 0, "flash_attn": 1, "n_ubatch": 512, "backends": "Vulkan"},
                        {"model_filename": "no-such-model.gguf", "n_prompt": 512, "n_gen": 0}])
    tps, lo, hi = out[0]
    assert lo < tps < hi and 35 < tps < 80
    assert out[1] is None
