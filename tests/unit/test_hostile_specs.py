"""Hostile spec files and CLI values: a one-line error naming file:line:field, fast, small memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vtt.errors import SpecError
from vtt.specs.hardware import Hardware
from vtt.specs.model_arch import ModelArch
from vtt.specs.yamlfile import parse_yaml, read_yaml, validate

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9))

HW = """id: evil
name: evil box
memory_gib: 128
gpu_addressable_gib: 120
reserve_gib: 4
mem_bandwidth_gbs: 256
fp16_tflops: 59
default_backend: vulkan-radv
"""


def test_alias_bomb_is_refused_fast(tmp_path):
    f = tmp_path / "bomb.yaml"
    f.write_text(BOMB)
    assert len(BOMB) < 1000
    t0 = time.perf_counter()
    with pytest.raises(SpecError, match=r"bomb.yaml:\d+: YAML aliases expand past"):
        read_yaml(f)
    assert time.perf_counter() - t0 < 1


def test_recursive_alias_is_a_spec_error(tmp_path):
    f = tmp_path / "rec.yaml"
    f.write_text("models:\n  - &m\n    id: x\n    self: *m\n")
    with pytest.raises(SpecError, match=r"rec.yaml:\d+: recursive YAML alias"):
        read_yaml(f)


def test_a_few_aliases_still_work():
    doc = parse_yaml("base: &b {x: 1}\nthings: [*b, *b, *b]\n", "ok.yaml")
    assert doc.data["things"] == [{"x": 1}] * 3


def test_oversized_and_non_regular_spec_files_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "y" * (5 * 2**20))
    with pytest.raises(SpecError, match="larger than"):
        read_yaml(big)
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="not a regular file"):
        read_yaml(fifo)


@pytest.mark.parametrize("line,field,words", [
    ("mem_bandwidth_gbs: .inf", "mem_bandwidth_gbs", "finite"),
    ("fp16_tflops: .nan", "fp16_tflops", "finite"),
    ("memory_gib: 1e300", "memory_gib", "less than"),
    ("reserve_gib: 500", None, "reserve_gib must be smaller"),
])
def test_hardware_sanity_bounds_name_file_line_and_field(line, field, words):
    key = line.split(":")[0]
    text = "\n".join(line if ln.startswith(key + ":") else ln for ln in HW.splitlines()) + "\n"
    doc = parse_yaml(text, "hw.yaml")
    with pytest.raises(SpecError) as e:
        validate(Hardware, doc.data, doc)
    msg = e.value.message
    assert msg.startswith("hw.yaml:") and words in msg
    if field:
        n = [i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith(key + ":")][0]
        assert f"hw.yaml:{n}: field '{field}'" in msg


@pytest.mark.parametrize("field,value", [("n_layer", "1e30"), ("n_vocab", "1e300"), ("n_embd", "4000000000")])
def test_absurd_model_sizes_are_refused(field, value):
    text = (f"id: m\nname: m\nfamily: llama\narch: llama\nn_layer: 2\nn_embd: 64\nn_vocab: 300\n"
            f"n_ctx_train: 4096\nn_head: 4\nn_head_kv: 4\nhead_dim_k: 16\nhead_dim_v: 16\nn_ff: 128\n")
    text = text.replace(f"{field}: ", f"{field}: {value} #", 1)
    doc = parse_yaml(text, "m.yaml")
    with pytest.raises(SpecError, match=f"field '{field}'"):
        validate(ModelArch, doc.data, doc)


def _vtt(*args, timeout=20):
    exe = Path(sys.executable).parent / "vtt"
    t0 = time.monotonic()
    r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout)
    return r, time.monotonic() - t0


@pytest.mark.parametrize("args,words", [
    (["plan", "gpt-oss-20b", "-c", str(2**63)], "context"),
    (["plan", "gpt-oss-20b", "--file-size-gib", "inf"], "file_size_gib"),
    (["plan", "gpt-oss-20b", "--file-size-gib", "1e308"], "file_size_gib"),
])
def test_absurd_cli_values_are_bad_input(args, words):
    r, dt = _vtt(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr and words in r.stderr and dt < 10


def test_fifo_gguf_and_nested_plan_through_the_cli(tmp_path):
    fifo = tmp_path / "m.gguf"
    os.mkfifo(fifo)
    r, dt = _vtt("plan", str(fifo), "-c", "4096")
    assert r.returncode == 2 and "not a regular file" in r.stderr and dt < 10
    plan = tmp_path / "plan.json"
    plan.write_text("[" * 200_000 + "]" * 200_000)
    r, dt = _vtt("check", str(plan))
    assert r.returncode == 2 and "nested too deeply" in r.stderr and "Traceback" not in r.stderr
