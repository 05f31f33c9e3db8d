"""Names people type resolve to a catalog model and quant."""

from __future__ import annotations

import pytest

from vtt.specs.catalog import default_world
from vtt.specs.names import NameParts, split_name


@pytest.mark.parametrize(
    "name, model, quant",
    [
        ("GLM-4.7-Flash-Q8", "glm-4.7-flash", "Q8_0"),
        ("GPT-OSS-20B-F16", "gpt-oss-20b", "F16"),
        ("Qwen3-235B-Q3", "qwen3-235b-a22b", "Q3_K_M"),
        ("Qwen3-80B-Q8", "qwen3-next-80b-a3b", "Q8_0"),
        ("GLM-4.7-Flash-REAP-23B-BF16", "glm-4.7-flash-reap-23b", "BF16"),
        ("Qwen3-Coder-30B-A3B-Instruct-UD-Q4_K_XL-00001-of-00002.gguf", "qwen3-coder-30b-a3b", "UD-Q4_K_XL"),
        ("llama-2-7b.Q4_0", "llama-2-7b", "Q4_0"),
        ("gpt-oss-120b-mxfp4-00001-of-00003", "gpt-oss-120b", "MXFP4"),
        ("gemma-3-27b-it-BF16-00001-of-00002", "gemma-3-27b", "BF16"),
        ("glm-4.7-flash", "glm-4.7-flash", None),
    ],
)
def test_names_resolve(name, model, quant):
    parts = split_name(name, default_world())
    assert parts is not None
    assert (parts.model_id, parts.quant_id) == (model, quant)


def test_unknown_name_resolves_to_nothing():
    assert split_name("no-such-model-xyz", default_world()) is None


@pytest.mark.parametrize("name, model, quant, suffix", [
    ("DeepSeek-V4-Flash-0731-UD-IQ2_XXS-00001-of-00003.gguf", "deepseek-v4-flash", "UD-IQ2_XXS", "0731"),
    ("MiniMax-M2.7-UD-Q3_K_S", "minimax-m2", "Q3_K_S", "'7'"),
    ("GLM-4.7-Flash-20260731-Q8_0.gguf", "glm-4.7-flash", "Q8_0", "20260731"),
])
def test_release_suffixes_of_a_catalogued_architecture_resolve_with_a_note(name, model, quant, suffix):
    parts = split_name(name, default_world())
    assert (parts.model_id, parts.quant_id) == (model, quant)
    assert parts.note and suffix in parts.note and model in parts.note


def test_catalogued_releases_and_flavours_resolve_without_a_note():
    w = default_world()
    assert split_name("Qwen3-Coder-30B-A3B-Instruct-2507-Q4_K_M.gguf", w) == NameParts("qwen3-coder-30b-a3b", "Q4_K_M")
    assert split_name("Qwen3-30B-A3B-Instruct-2507-Q4_K_M", w) == NameParts("qwen3-30b-a3b-instruct-2507", "Q4_K_M")
    assert split_name("MiniMax-M2.5-Q4_K_M", w) == NameParts("minimax-m2", "Q4_K_M")
    assert split_name("gpt-oss/20b", w) == NameParts("gpt-oss-20b", None)


@pytest.mark.parametrize("name", ["no-such-model-0731", "Foo-Bar-2.1-Q4_K_M", "0731"])
def test_a_suffix_does_not_make_an_unknown_name_known(name):
    assert split_name(name, default_world()) is None


def test_plan_answers_a_suffixed_name_with_a_warning_and_unknown_names_keep_did_you_mean():
    from vtt.plan import plan_many

    a, b = plan_many([{"model": "MiniMax-M2.7-UD-Q3_K_S", "context": 8192}, {"model": "glm-4.7-flashh"}])
    assert a["model"] == "minimax-m2" and any("release suffix" in w for w in a["warnings"])
    assert "did you mean" in b["error"]["message"]
