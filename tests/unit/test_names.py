"""Names people type resolve to a catalog model and quant."""

from __future__ import annotations

import pytest

from vtt.specs.catalog import default_world
from vtt.specs.names import split_name


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
