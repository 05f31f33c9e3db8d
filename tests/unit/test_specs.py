"""Specs load as data; malformed files are refused with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtt.errors import SpecError, UnknownName
from vtt.specs.catalog import load_world, spec_roots
from vtt.specs.yamlfile import parse_yaml

BASE_MODEL = """\
id: tiny
name: Tiny
family: tiny
arch: llama
n_layer: 4
n_embd: 256
n_vocab: 1000
n_ctx_train: 4096
n_head: 4
n_head_kv: 2
head_dim_k: 64
head_dim_v: 64
n_ff: 512
"""


def _overlay(tmp_path: Path, text: str) -> list[Path]:
    (tmp_path / "models").mkdir(parents=True, exist_ok=True)
    (tmp_path / "models" / "tiny.yaml").write_text(text)
    return [*spec_roots(), tmp_path]


def test_builtin_catalog_loads_and_has_the_seed_models():
    w = load_world()
    for name in ["GLM-4.7-Flash", "gpt-oss-20b", "Qwen3-80B", "GLM-4.7-REAP-218B", "Qwen3-235B", "glm-4.7"]:
        assert w.find_model(name) is not None, name
    assert "strix-halo-128" in w.hardware
    assert {"vulkan-radv", "vulkan-amdvlk", "rocm", "cpu"} <= set(w.backends)


def test_yaml_syntax_error_names_file_and_line():
    with pytest.raises(SpecError, match=r"^bad\.yaml:3: invalid YAML"):
        parse_yaml("hardware:\n  memory_gib: [oops\n", "bad.yaml")


def test_wrong_type_names_file_line_and_field(tmp_path):
    text = BASE_MODEL.replace("n_layer: 4", "n_layer: four")
    with pytest.raises(SpecError) as e:
        load_world(_overlay(tmp_path, text))
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "models" / "tiny.yaml") + ":5:"), msg
    assert "n_layer" in msg


def test_unknown_key_is_refused(tmp_path):
    with pytest.raises(SpecError, match="n_layers"):
        load_world(_overlay(tmp_path, BASE_MODEL + "n_layers: 5\n"))


def test_inconsistent_pattern_is_refused(tmp_path):
    with pytest.raises(SpecError, match="layer_pattern has 3 entries for 4 layers"):
        load_world(_overlay(tmp_path, BASE_MODEL + "layer_pattern: AAA\n"))


def test_overlay_adds_a_model(tmp_path):
    w = load_world(_overlay(tmp_path, BASE_MODEL))
    assert w.model("TINY").n_layer == 4


def test_unknown_model_suggests_close_matches():
    w = load_world()
    with pytest.raises(UnknownName, match=r"unknown model 'glm-4.7-flsh'.*did you mean: .*glm-4.7-flash"):
        w.model("glm-4.7-flsh")
