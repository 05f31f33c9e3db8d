"""Catalog-wide consistency: the parameter count vtt derives from each entry's architecture (the
tensor list llama.cpp's loader expects, vtt.cost.tensors, as summed into a WeightProfile by
vtt.cost.weights) agrees with the entry's published total. A wrong n_ff, a missed tied embedding
or a wrong vocab moves the count by far more than the tolerance, so this catches shape typos that
would otherwise only show as mispredicted weights and speed."""

from __future__ import annotations

import pytest

from vtt.cost.tensors import tensor_shapes
from vtt.cost.weights import profile_from_mix
from vtt.specs.catalog import default_world

TOLERANCE = 0.03  # published totals are rounded (e.g. "106B"); real shape errors are far larger

# Entries whose derived count misses the published total by more than TOLERANCE (strict xfail: fixing
# the entry makes this test say so). Empty: makers count a NextN/MTP block inconsistently (GLM-4.5-Air's
# "106B" leaves its 2.38 B MTP block out, GLM-4.7's 355B keeps it in), so a model with one matches
# with or without it.
KNOWN_OFF: dict[str, str] = {}

WORLD = default_world()
MODELS = sorted(WORLD.models)


def _cases():
    for mid in MODELS:
        marks = [pytest.mark.xfail(reason=KNOWN_OFF[mid], strict=True)] if mid in KNOWN_OFF else []
        yield pytest.param(mid, marks=marks, id=mid)


@pytest.mark.parametrize("mid", list(_cases()))
def test_derived_params_match_published_total(mid):
    a = WORLD.models[mid]
    assert a.params_total_b is not None, f"{mid}: no params_total_b to cross-check the shapes against"
    derived = profile_from_mix(a, WORLD.quant("Q8_0")).params_total / 1e9
    counts = [derived]
    if a.n_nextn_layer:  # the same shapes without the NextN/MTP block(s) the GGUF stores
        nextn = {f"blk.{il}." for il in range(a.n_layer - a.n_nextn_layer, a.n_layer)}
        counts.append(sum(t.n_elements for t in tensor_shapes(a)
                          if not any(t.name.startswith(b) for b in nextn)) / 1e9)
    err = min((c / a.params_total_b - 1 for c in counts), key=abs)
    assert abs(err) <= TOLERANCE, (
        f"{mid}: shapes give {', '.join(f'{c:.3f}' for c in counts)} B params, catalog says "
        f"{a.params_total_b} B ({err:+.2%})"
    )


@pytest.mark.parametrize("mid", MODELS)
def test_active_params_are_consistent(mid):
    a = WORLD.models[mid]
    assert a.params_active_b is not None, f"{mid}: no params_active_b"
    assert a.params_active_b <= a.params_total_b, f"{mid}: more active than total params"
    if not a.is_moe:  # a dense model runs every weight per token
        assert a.params_active_b == a.params_total_b, f"{mid}: dense but active != total"


def test_known_off_list_names_real_entries():
    assert set(KNOWN_OFF) <= set(WORLD.models), "KNOWN_OFF names an entry that no longer exists"


def test_profile_count_is_the_tensor_count():
    """The WeightProfile's params_total is the plain element sum over the loader's tensor list
    (quant-independent), so the check above tests the shapes, not a quant recipe."""
    a = WORLD.model("qwen3-8b")
    by_tensors = sum(t.n_elements for t in tensor_shapes(a))
    for q in ("Q4_K_M", "Q8_0"):
        assert profile_from_mix(a, WORLD.quant(q)).params_total == by_tensors


@pytest.mark.parametrize("mid, tied", [("qwen3-4b", True), ("qwen3-8b", False)])
def test_check_is_sensitive_to_tied_embeddings(mid, tied):
    """Flipping tied_embeddings on a real entry must break the 3 % check (the output matrix is
    ~10 % of a small Qwen3): the test can fail."""
    a = WORLD.model(mid)
    assert a.tied_embeddings is tied
    flipped = a.model_copy(update={"tied_embeddings": not tied})
    derived = sum(t.n_elements for t in tensor_shapes(flipped)) / 1e9
    assert abs(derived / a.params_total_b - 1) > TOLERANCE


@pytest.mark.parametrize("mid,gib", [("gpt-oss-20b", 12.83), ("gpt-oss-120b", 60.87)])
def test_float_gpt_oss_files_keep_their_mxfp4_experts(mid, gib):
    """llama.cpp's converter repacks gpt-oss's MXFP4 expert blocks as they are (conversion/gpt_oss.py), so the
    published "F16" GGUFs are MXFP4 experts + F16 rest: the recipe must give their sizes (lhl's files), not
    4x the experts scaled down to fit, which under-counted a decoded token's bytes 1.7x (tg 28-82 % fast)."""
    from vtt.cost.tensors import TensorShape
    from vtt.cost.weights import tensor_type

    a = WORLD.models[mid]
    assert profile_from_mix(a, WORLD.quant("F16")).total_bytes / 2**30 == pytest.approx(gib, rel=0.005)
    exp = TensorShape("blk.0.ffn_up_exps.weight", (a.n_embd, a.n_ff_exp, a.n_expert))
    attn = TensorShape("blk.0.attn_q.weight", (a.n_embd, a.n_head * a.head_dim_k))
    assert [tensor_type(WORLD.quant(q), exp, a) for q in ("F16", "BF16")] == ["mxfp4", "mxfp4"]
    assert tensor_type(WORLD.quant("F16"), attn, a) == "f16"
