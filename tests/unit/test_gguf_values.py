"""One bad hyper-parameter in an otherwise valid header: a GgufError naming the key, fast.

The headers are real ones written by the project (tests/gguf_models.py), re-encoded with one
value replaced (tests/gguf_mutate.py), then answered by `plan_many` like `vtt plan FILE`.
"""

from __future__ import annotations

import time

import pytest
from gguf_models import write_tiny
from gguf_mutate import (ARRAY, BOOL, FLOAT32, FLOAT64, INT32, STRING, UINT32, UINT64, encode, typed_items,
                         with_tensor_data)

from vtt.errors import GgufError, VttError
from vtt.gguf.arch import arch_from_header
from vtt.gguf.reader import read_gguf_header

_BASES: dict[str, tuple] = {}


def _base(kind: str, tmp_path_factory):
    if kind not in _BASES:
        folder = tmp_path_factory.mktemp(kind)
        h = read_gguf_header(write_tiny(kind, folder, "f16", n_vocab=300))
        _BASES[kind] = (typed_items(h), h.tensors)
    return _BASES[kind]


def _write(tmp_path, items, tensors):
    p = tmp_path / "m.gguf"
    p.write_bytes(with_tensor_data(encode(items, tensors), tensors))
    return p


def _set(items, key, vtype, value, etype=None):
    out = [it for it in items if it[0] != key]
    return out + [(key, vtype, value, etype)]


CASES = [  # (arch, key, type, value, words the message must hold)
    ("llama", "llama.block_count", STRING, "32", ["llama.block_count", "str"]),
    ("llama", "llama.block_count", FLOAT64, 1e30, ["llama.block_count", "float"]),
    ("llama", "llama.block_count", UINT64, 2**40, ["llama.block_count", "out of range"]),
    ("llama", "llama.block_count", ARRAY, ["a", "b"], ["llama.block_count", "non-integers"]),
    ("llama", "llama.embedding_length", FLOAT32, float("nan"), ["llama.embedding_length", "not finite"]),
    ("llama", "llama.attention.head_count", FLOAT64, float("inf"), ["llama.attention.head_count", "not finite"]),
    ("llama", "llama.attention.head_count_kv", INT32, -1, ["head_count_kv", "out of range"]),
    ("llama", "llama.attention.head_count_kv", UINT32, 64, ["head_count_kv", "exceeds head_count"]),
    ("llama", "llama.attention.key_length", UINT32, 4096, ["attn_k", "key_length"]),
    ("llama", "llama.context_length", BOOL, True, ["llama.context_length", "bool"]),
    ("llama", "llama.feed_forward_length", UINT32, 999, ["ffn_up", "feed_forward_length"]),
    ("llama", "llama.embedding_length", UINT32, 512, ["token_embd", "embedding_length"]),
    ("llama", "llama.block_count", UINT32, 1, ["blk.1", "block_count"]),
    ("llama", "llama.block_count", UINT32, 9, ["block_count", "tensor table"]),
    ("llama", "llama.vocab_size", UINT32, 100, ["token_embd", "vocabulary"]),
    ("qwen3moe", "qwen3moe.expert_count", UINT32, 16, ["_exps.weight", "expert_count"]),
    ("qwen3moe", "qwen3moe.expert_used_count", UINT32, 0, ["expert_used_count"]),
    ("qwen3moe", "qwen3moe.expert_used_count", UINT32, 99, ["expert_used_count", "out of range"]),
    ("qwen3moe", "qwen3moe.leading_dense_block_count", UINT64, 4_000_000_000, ["leading_dense_block_count"]),
    ("deepseek2", "deepseek2.attention.kv_lora_rank", UINT32, 0, ["kv_lora_rank", "out of range"]),
    ("deepseek2", "deepseek2.attention.kv_lora_rank", ARRAY, [0, 0], ["kv_lora_rank", "out of range"]),
    ("deepseek2", "deepseek2.rope.dimension_count", UINT32, 4096, ["key_length_mla", "rope.dimension_count"]),
    ("llama", "llama.ssm.conv_kernel", UINT32, 0, ["ssm.conv_kernel", "out of range"]),
    ("gemma3", "gemma3.attention.sliding_window", STRING, "1024", ["sliding_window", "str"]),
    ("gemma3", "gemma3.attention.sliding_window_pattern", ARRAY, [float("nan")] * 6, ["sliding_window_pattern"]),
]


@pytest.mark.parametrize("arch,key,vtype,value,words", CASES, ids=[f"{c[1]}={c[3]!r}"[:60] for c in CASES])
def test_bad_value_is_a_gguf_error_naming_the_key(tmp_path, tmp_path_factory, arch, key, vtype, value, words):
    items, tensors = _base(arch, tmp_path_factory)
    etype = {str: STRING, float: FLOAT32}.get(type(value[0]), UINT32) if vtype == ARRAY else None
    if key.endswith("ssm.conv_kernel"):
        items = _set(_set(items, "llama.ssm.state_size", UINT32, 16), "llama.ssm.inner_size", UINT32, 512)
    path = _write(tmp_path, _set(items, key, vtype, value, etype), tensors)
    t0 = time.perf_counter()
    with pytest.raises(GgufError) as e:
        arch_from_header(read_gguf_header(path))
    assert time.perf_counter() - t0 < 1.0
    msg = e.value.message
    assert "\n" not in msg and "m.gguf" in msg
    for w in words:
        assert w in msg, (w, msg)


def test_untouched_base_headers_still_read(tmp_path_factory):
    for kind in ("llama", "qwen3moe", "deepseek2", "gemma3"):
        items, tensors = _base(kind, tmp_path_factory)
        a = arch_from_header(read_gguf_header(_write(tmp_path_factory.mktemp("ok"), items, tensors)))
        assert a.arch == kind


def test_escape_codes_in_header_text_never_reach_a_message(tmp_path, tmp_path_factory):
    from vtt.plan import plan_many

    items, tensors = _base("llama", tmp_path_factory)
    evil = "\x1b[2J\x1b[31mllama\nFAKE LINE\u202e"
    # as the architecture name: refused, and the message shows the escapes as text
    bad = [(k, t, evil if k == "general.architecture" else v, e) for k, t, v, e in items]
    with pytest.raises(VttError) as e:
        arch_from_header(read_gguf_header(_write(tmp_path, bad, tensors)))
    assert "\x1b" not in e.value.message and "\n" not in e.value.message and "\\x1b" in e.value.message
    # as the model's display name: kept, made printable
    named = _set(items, "general.name", STRING, evil)
    ans = plan_many([{"model": str(_write(tmp_path, named, tensors)), "context": 4096}])[0]
    assert "error" not in ans
    a = arch_from_header(read_gguf_header(tmp_path / "m.gguf"))
    assert "\x1b" not in a.name and "\n" not in a.name


def test_vtt_error_messages_are_printable():
    e = VttError("bad \x1b]0;title\x07 name\nsecond", hint="line one\nline \x1b[2Jtwo")
    assert "\x1b" not in e.message and "\n" not in e.message and "\x07" not in e.message
    assert e.hint.split("\n") == ["line one", "line \\x1b[2Jtwo"]
