"""Re-encode a real GGUF header with one metadata value or tensor shape changed (value fuzzing).

Byte flips (tests/property/test_gguf_fuzz.py) mostly break the framing, which the reader
catches; the crashes an outside test found were *valid* headers with one bad value. This module
parses a header the project wrote, and writes it back with a chosen key set to a chosen GGUF
value (any type: a string where a count belongs, NaN, 0, 4e9, a list ...).
"""

from __future__ import annotations

import random
import struct
from typing import Any

from vtt.gguf.reader import (ARRAY, BOOL, FLOAT32, FLOAT64, INT32, INT64, STRING, UINT8, UINT32, UINT64,
                             GgufHeader, TYPE_NAMES, _SCALAR)

_NAME_TYPES = {v: k for k, v in TYPE_NAMES.items()}


def _s(b: bytes | str) -> bytes:
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(b)) + b


def enc_value(vtype: int, v: Any) -> bytes:
    if vtype in _SCALAR:
        code = _SCALAR[vtype][0]
        return struct.pack("<" + code, v)
    if vtype == STRING:
        return _s(v)
    raise ValueError(vtype)


def enc_kv(key: str, vtype: int, v: Any, etype: int | None = None) -> bytes:
    out = _s(key) + struct.pack("<I", vtype)
    if vtype == ARRAY:
        items = list(v)
        out += struct.pack("<IQ", etype, len(items)) + b"".join(enc_value(etype, x) for x in items)
    else:
        out += enc_value(vtype, v)
    return out


def typed_items(h: GgufHeader) -> list[tuple[str, int, Any, int | None]]:
    """(key, type, value, element type) of every metadata entry of a parsed header."""
    out = []
    for k, v in h.metadata.items():
        t = h.value_types[k]
        if t.startswith("array["):
            out.append((k, ARRAY, list(v), _NAME_TYPES[t[6:-1]]))
        else:
            out.append((k, _NAME_TYPES[t], v, None))
    return out


def encode(items, tensors, alignment: int = 32) -> bytes:
    """A GGUF v3 header (metadata + tensor infos + padding) for `items` and `tensors`."""
    from vtt import ggml_types

    ids = {v: k for k, v in ggml_types.type_by_id().items()}
    body = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(items))
    body += b"".join(enc_kv(*it) for it in items)
    for t in tensors:
        body += _s(t.name) + struct.pack("<I", len(t.ne)) + b"".join(struct.pack("<Q", d) for d in t.ne)
        body += struct.pack("<IQ", ids[t.type], t.offset)
    return body + b"\0" * (-len(body) % alignment)


def with_tensor_data(header: bytes, tensors) -> bytes:
    """The header followed by zeros up to the end of the last tensor (a file the reader accepts)."""
    end = max((t.offset + t.n_bytes for t in tensors), default=0)
    return header + b"\0" * end


def write_sparse(path, header: bytes, tensors) -> None:
    """The header, then a hole up to the end of the last tensor: a file of the claimed size that
    costs no memory or disk to make, however big a mutated shape makes it."""
    end = max((t.offset + t.n_bytes for t in tensors), default=0)
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + end)


# Values that break counts: wrong types, non-finite floats, zero, negative, huge.
HOSTILE = [
    (STRING, "4096"), (STRING, "\x1b[2J\x1b[31mpwned\n"), (FLOAT32, float("nan")), (FLOAT64, float("inf")),
    (FLOAT64, -float("inf")), (FLOAT32, 1e30), (FLOAT64, 1e300), (UINT32, 0), (INT32, -1), (INT64, -2**63),
    (UINT64, 2**64 - 1), (UINT64, 4_000_000_000), (UINT32, 2**31), (BOOL, True), (FLOAT32, 0.5),
    (UINT8, 255), (UINT32, 1), (UINT32, 3), (UINT32, 7), (UINT32, 100_000), (FLOAT64, 4e9),
]
HOSTILE_ARRAYS = [(ARRAY, [], UINT32), (ARRAY, [0, 0], UINT32), (ARRAY, [2**32 - 1] * 3, UINT32),
                  (ARRAY, ["a", "b"], STRING), (ARRAY, [float("nan")], FLOAT32), (ARRAY, [1] * 7, INT32)]


def mutate(items, tensors, rng: random.Random):
    """One random value mutation (maybe two): returns new (items, tensors) lists."""
    items = list(items)
    tensors = list(tensors)
    for _ in range(rng.choice((1, 1, 1, 2))):
        r = rng.random()
        if r < 0.75 and items:
            i = rng.randrange(len(items))
            key = items[i][0]
            new = rng.choice(HOSTILE + HOSTILE_ARRAYS) if rng.random() < 0.8 else \
                (rng.choice((UINT32, INT32, UINT64, FLOAT32)), rng.choice((0, 1, 2, 3, 4, 5, 8, 16, 64, 1000, 65536)))
            if new[0] in (INT32,) and new[1] < -2**31:
                new = (INT64, new[1])
            items[i] = (key, new[0], new[1], new[2] if len(new) > 2 else None)
        elif r < 0.9:
            arch = next((v for k, _, v, _ in items if k == "general.architecture"), "llama")
            key = rng.choice(EXTRA_KEYS)
            new = rng.choice(HOSTILE + HOSTILE_ARRAYS)
            items = [it for it in items if it[0] != f"{arch}.{key}"]
            items.append((f"{arch}.{key}", new[0], new[1], new[2] if len(new) > 2 else None))
        elif tensors:
            from vtt.gguf.reader import TensorInfo

            i = rng.randrange(len(tensors))
            t = tensors[i]
            ne = list(t.ne)
            j = rng.randrange(len(ne))
            ne[j] = rng.choice((1, 32, 64, 256, 4096, 2**20)) if t.type in ("f32", "f16") else ne[j] * 2
            tensors[i] = TensorInfo(t.name, t.type, tuple(ne), t.n_bytes, t.offset, t.part)
    return items, _reoffset(tensors)


def _reoffset(tensors):
    """Recompute byte sizes and aligned offsets after a shape change."""
    from vtt import ggml_types
    from vtt.gguf.reader import TensorInfo

    out, off = [], 0
    for t in tensors:
        n = ggml_types.tensor_bytes(t.type, t.ne)
        out.append(TensorInfo(t.name, t.type, t.ne, n, off, t.part))
        off += n + (-n % 32)
    return out


EXTRA_KEYS = ["attention.kv_lora_rank", "ssm.conv_kernel", "ssm.state_size", "ssm.inner_size", "ssm.group_count",
              "leading_dense_block_count", "expert_count", "expert_used_count", "expert_feed_forward_length",
              "expert_shared_count", "expert_shared_feed_forward_length", "nextn_predict_layers",
              "attention.sliding_window", "attention.sliding_window_pattern", "full_attention_interval",
              "interleave_moe_layer_step", "vocab_size", "attention.key_length_mla", "rope.dimension_count",
              "attention.q_lora_rank", "block_count", "context_length", "embedding_length",
              "attention.head_count", "attention.head_count_kv", "feed_forward_length"]

__all__ = ["encode", "typed_items", "mutate", "with_tensor_data", "write_sparse", "HOSTILE", "EXTRA_KEYS", "FLOAT64",
           "UINT32", "INT64", "UINT64", "FLOAT32", "STRING", "ARRAY", "BOOL", "INT32", "UINT8"]
