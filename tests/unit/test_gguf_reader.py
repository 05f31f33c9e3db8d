"""read_gguf_header and arch_from_header on GGUFs written by write_random_gguf (real archs)."""

from __future__ import annotations

import math

import gguf
import numpy as np
import pytest
from gguf_models import CATALOG_ONLY, TINY, tiny_arch, write_tiny

from vtt import ggml_types
from vtt.cost.tensors import tensor_shapes
from vtt.errors import GgufError
from vtt.gguf.arch import arch_from_header, profile_from_header
from vtt.gguf.reader import SkippedArray, read_gguf_header
from vtt.gguf.write import _tensor_type

KINDS = sorted(TINY)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gguf")
    out = {(k, "f16"): write_tiny(k, d, "f16") for k in KINDS}
    out[("gpt-oss", "mxfp4")] = write_tiny("gpt-oss", d, "mxfp4")
    out[("deepseek2", "q4_0")] = write_tiny("deepseek2", d, "q4_0")
    out[("llama", "q8_0")] = write_tiny("llama", d, "q8_0")
    return out


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=0, abs_tol=0) or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.parametrize("kind,wt", [(k, "f16") for k in KINDS]
                         + [("gpt-oss", "mxfp4"), ("deepseek2", "q4_0"), ("llama", "q8_0")])
def test_reader_agrees_with_gguf_reader(files, kind, wt):
    path = files[(kind, wt)]
    ours = read_gguf_header(path)
    ref = gguf.GGUFReader(path)
    ref_fields = {k: f for k, f in ref.fields.items() if not k.startswith("GGUF.")}
    assert set(ours.metadata) == set(ref_fields)
    for k, f in ref_fields.items():
        v = ours.metadata[k]
        if isinstance(v, SkippedArray):
            assert len(v) == len(f.data), k
            continue
        want = f.contents()
        if isinstance(want, list):
            assert len(v) == len(want), k
            assert all(_same(x, y) for x, y in zip(v, want)), k
        else:
            assert _same(v, want), k
    assert [t.name for t in ours.tensors] == [t.name for t in ref.tensors]
    for t, r in zip(ours.tensors, ref.tensors):
        assert t.type == r.tensor_type.name.lower()
        assert t.ne == tuple(int(x) for x in r.field.parts[3])  # ne as stored
        assert t.n_bytes == int(r.n_bytes)
        assert ours.header_bytes + t.offset == int(r.data_offset)
    assert ours.tensor_bytes == sum(int(r.n_bytes) for r in ref.tensors)
    assert ours.version == 3 and ours.alignment == 32


@pytest.mark.parametrize("kind", KINDS)
def test_arch_from_header_round_trips_the_written_arch(files, kind):
    want = tiny_arch(kind)
    got = arch_from_header(read_gguf_header(files[(kind, "f16")]))
    assert got.model_dump(exclude=CATALOG_ONLY) == want.model_dump(exclude=CATALOG_ONLY)
    assert got.mixers == want.mixers and got.ffns == want.ffns


@pytest.mark.parametrize("kind,wt", [(k, "f16") for k in KINDS] + [("gpt-oss", "mxfp4"), ("deepseek2", "q4_0")])
def test_predicted_tensor_bytes_equal_the_written_file(files, kind, wt):
    """tensor_shapes(arch) is exactly the tensor list llama.cpp loaded from the written file."""
    a = tiny_arch(kind)
    h = read_gguf_header(files[(kind, wt)])
    predicted = {t.name: (t.ne, ggml_types.tensor_bytes(_tensor_type(t, wt), t.ne)) for t in tensor_shapes(a)}
    actual = {t.name: (t.ne, t.n_bytes) for t in h.tensors}
    assert predicted == actual
    prof = profile_from_header(h)
    assert prof.source == "gguf" and prof.total_bytes == h.tensor_bytes


def test_mxfp4_file_keeps_experts_in_mxfp4(files):
    h = read_gguf_header(files[("gpt-oss", "mxfp4")])
    types = {t.name: t.type for t in h.tensors}
    assert types["blk.0.ffn_up_exps.weight"] == "mxfp4"
    assert types["blk.0.attn_q.weight"] == "q8_0"
    assert types["blk.0.ffn_gate_exps.bias"] == "f32"


def test_vocab_comes_from_token_count_when_vocab_size_is_absent(files):
    h = read_gguf_header(files[("llama", "f16")])
    assert "llama.vocab_size" not in h.metadata
    assert arch_from_header(h).n_vocab == 512


def test_per_layer_head_count_kv_array_marks_nemotron_h_layers(tmp_path):
    """nemotron_h: head_count_kv 0 and feed_forward_length 0 -> recurrent; ff 0 -> attention."""
    w = gguf.GGUFWriter(tmp_path / "nh.gguf", "nemotron_h")
    w.add_block_count(4)
    w.add_context_length(4096)
    w.add_embedding_length(256)
    w.add_head_count(8)
    w.add_array("nemotron_h.attention.head_count_kv", [0, 2, 0, 0])
    w.add_array("nemotron_h.feed_forward_length", [0, 0, 512, 0])
    for k, v in {"conv_kernel": 4, "inner_size": 512, "state_size": 64, "time_step_rank": 8, "group_count": 2}.items():
        w.add_uint32(f"nemotron_h.ssm.{k}", v)
    w.add_token_list([f"t{i}" for i in range(300)])
    w.add_tensor("token_embd.weight", np.zeros((300, 256), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    a = arch_from_header(read_gguf_header(tmp_path / "nh.gguf"))
    assert a.mixers == "RA-R" and a.ffns == "--D-"
    assert a.n_head_kv == 2 and a.n_ff == 512 and a.ssm.d_state == 64 and not a.ffn_gated


def test_split_model_sums_the_tensor_tables_of_all_parts(tmp_path):
    w = gguf.GGUFWriter(tmp_path / "m.gguf", "llama", split_max_tensors=2)
    w.add_block_count(1)
    for i in range(5):
        w.add_tensor(f"t{i}.weight", np.zeros((4, 32 * (i + 1)), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    parts = sorted(tmp_path.glob("m-*-of-*.gguf"))
    assert len(parts) == 3
    h = read_gguf_header(parts[0])
    assert h.parts == 3 and len(h.tensors) == 5 and "3 parts" in h.notes[0]
    assert h.tensor_bytes == sum(4 * 32 * (i + 1) * 2 for i in range(5))
    with pytest.raises(GgufError, match="part 2 of 3"):
        read_gguf_header(parts[1])
