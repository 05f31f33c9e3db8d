"""Answers know which of their inputs no calibration row covers, and widen through the model."""

import numpy as np
import pytest

from vtt.cost import coverage
from vtt.plan import plan_many


def one(**kw):
    a = plan_many([{"context": 40960, **kw}])[0]
    assert "error" not in a, a
    return a


def ratio(a, key="pp_tps_interval"):
    return a[key][1] / a[key][0]


def features(model, quant, backend, depth, n_prompt, n_gen):
    """Speed features of one model on Strix Halo for queries given as equal-length lists."""
    from vtt.cost.predict import speed_features
    from vtt.plan import resolve_model
    from vtt.specs.catalog import load_world

    w = load_world()
    n = len(depth)
    q = {"depth": np.array(depth), "n_prompt": np.array(n_prompt), "n_gen": np.array(n_gen),
         "context": np.array(depth) + np.array(n_prompt) + np.array(n_gen), "n_ubatch": np.full(n, 512),
         "parallel": np.ones(n, int), "flash_attn": np.ones(n, bool), "type_k": ["f16"] * n, "type_v": ["f16"] * n}
    return speed_features(resolve_model(w, model, quant, None), w.get_hardware("strix-halo-128"), q,
                          w.get_backend(backend))


def test_a_measured_kind_on_its_measured_path_is_not_extrapolated():
    a = one(model="gpt-oss-20b", quant="MXFP4", depth=0, backend="vulkan-radv")
    assert a["extrapolated"] is False
    assert not any("extrapolated" in w for w in a["warnings"])


def test_mla_on_amdvlk_names_the_scalar_path_the_width_and_the_kind():
    a = one(model="glm-4.7-flash", quant="Q8_0", depth=32768, backend="vulkan-amdvlk")
    assert a["extrapolated"] is True
    w = next(w for w in a["warnings"] if w.startswith("extrapolated"))
    for part in ("kernel path scalar", "head width 576", "attention kind MLA"):
        assert part in w


def test_the_widening_follows_the_attention_share_not_a_flat_factor():
    """The same unmeasured model: its prefill at 32K is attention-bound, at depth 0 weight-bound."""
    shallow = one(model="glm-4.7-flash", quant="Q8_0", depth=0, backend="vulkan-amdvlk")
    deep = one(model="glm-4.7-flash", quant="Q8_0", depth=32768, backend="vulkan-amdvlk")
    assert ratio(deep) > 1.5 * ratio(shallow)


def test_no_rows_for_a_backend_means_everything_is_extrapolated():
    a = one(model="llama-3.1-8b", quant="Q4_K_M", depth=0, hardware="h100-sxm-80", backend="cuda")
    assert a["extrapolated"] is True


def test_a_build_outside_the_calibration_range_is_named():
    f = features("llama-3.1-8b", "Q4_K_M", "vulkan-radv", [0], [512], [0])
    cells = coverage.coverage_cells(["pp"], ["coopmat1"], [128], [4], ["GQA"], [0])
    inside = coverage.extrapolation("GQA", f, {}, cells, [], "b7938 .. b9193", [9000])
    outside = coverage.extrapolation("GQA", f, {}, cells, [], "b7938 .. b9193", [6000])
    assert not inside.extrapolated[0]
    assert outside.extrapolated[0] and "build b6000" in outside.inputs[0][0]


@pytest.mark.parametrize("d,band", [(0, "d=0"), (4096, "0<d<=8K"), (32768, "8K<d<=32K"), (65536, "d>32K")])
def test_depth_bands(d, band):
    assert coverage.depth_band(d) == band


def test_catalog_coverage_lists_the_cells_of_the_shipped_calibrations():
    import json

    from typer.testing import CliRunner

    from vtt.cli.app import app

    r = CliRunner().invoke(app, ["catalog", "coverage", "--search", "vulkan-radv", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    cells = [json.loads(x) for x in r.output.splitlines() if x.strip()]
    assert cells and all(c["backend"] == "vulkan-radv" for c in cells)
    assert {"test", "path", "head_width", "gqa", "kind", "depth_band", "builds", "n"} <= set(cells[0])
    assert {c["path"] for c in cells} == {"coopmat1"}  # every public RADV row runs the coopmat1 FA kernel
    assert "qwen35moe" in cells[0]["archs"]["pp"] and "deepseek2" not in cells[0]["archs"]["pp"]
    text = CliRunner().invoke(app, ["catalog", "coverage", "--backend", "vulkan-radv"], catch_exceptions=False).output
    assert "architectures: pp gemma3, gpt-oss, llama" in text


def test_depth_is_flagged_only_beyond_the_deepest_rows_of_the_kind():
    shallow = one(model="llama-3.3-70b", quant="Q4_K_M", depth=0, n_gen=128, backend="vulkan-radv")
    deep = plan_many([{"model": "llama-3.3-70b", "quant": "Q4_K_M", "context": 70000, "depth": 65536,
                       "backend": "vulkan-radv"}])[0]
    assert shallow["extrapolated"] is False
    assert deep["extrapolated"] is True and any("depth 65536" in w for w in deep["warnings"])


def test_a_context_longer_than_any_row_in_the_open_last_band_is_flagged_and_widened():
    """The d>32K band has no upper end: a 120K answer on RADV (rows to 65,536) is not interpolation."""
    f = features("qwen3.6-27b", "Q4_K_M", "vulkan-radv", [60000, 120000], [2048, 2048], [128, 128])
    cells = coverage.coverage_cells(["pp", "tg"], ["coopmat1"] * 2, [256, 256], [6, 6], ["SWA/hybrid"] * 2,
                                    [65536, 65536])
    params = {"attn_pp_eff": 0.09, "kv_tile_reuse": 4.0}
    fitted = ["t_rec_layer_us"]  # its DeltaNet layers' own costs were fitted (else they are named too)
    ext = coverage.extrapolation("SWA/hybrid", f, params, cells, fitted)
    assert not ext.inputs[0]
    assert ext.inputs[1] == ["depth 120000 (pp/tg: SWA/hybrid rows reach 65536)"]
    assert ext.sd_pp[1] > 0.2 and ext.sd_pp[0] == 0
    # cells written before they carried max_depth say nothing about it (no flag, as before)
    old = [{k: v for k, v in c.items() if k != "max_depth"} for c in cells]
    assert not coverage.extrapolation("SWA/hybrid", f, params, old, fitted).extrapolated.any()


def test_mha_decode_on_hip_without_vec_rows_is_flagged_and_widened_at_depth():
    """A ROCm calibration fitted without MHA rows never saw the vec decode kernel: the MHA answer at
    depth says so and its tg interval widens through kv_vec's spread; at depth 0 the KV read is nil."""
    f = features("llama-2-7b", "Q4_0", "rocm", [32768, 0], [0, 0], [32, 128])
    cells = coverage.coverage_cells(["tg", "tg"], ["tile", "tile"], [128, 128], [1, 1], ["MHA", "MHA"], [0, 32768])
    without = coverage.extrapolation("MHA", f, {}, cells, ["kv_eff"])
    assert without.extrapolated[0] and "decode kernel vec" in without.warning(0)
    assert without.sd_tg[0] > 0.3 and without.sd_tg[1] < 0.05
    fitted = coverage.extrapolation("MHA", f, {}, cells, ["kv_eff", "kv_vec"])
    assert "decode kernel vec" not in (fitted.warning(0) or "")


def test_a_weight_type_the_rows_never_ran_is_flagged_and_widened_through_its_rate():
    """A calibration fitted without MXFP4 rows ties MXFP4 prefill to the legacy rate: gpt-oss's answer
    names the weight type and its pp interval widens by ce_mxfp4's spread; with MXFP4 rows it does not."""
    f = features("gpt-oss-20b", "MXFP4", "vulkan-radv", [0, 0], [512, 0], [0, 128])
    cells = coverage.coverage_cells(["pp", "tg"], ["coopmat1", "coopmat1"], [64, 64], [8, 8], ["SWA/hybrid"] * 2, [0, 0])
    params = {}  # physics defaults
    without = coverage.extrapolation("SWA/hybrid", f, params, cells, [], families={"pp": ["k", "q8"], "tg": ["k", "q8"]})
    assert "weight type mxfp4 (pp: rows have k, q8)" in without.warning(0)
    assert "weight type mxfp4 (tg: rows have k, q8)" in without.warning(1)
    # prefill of a weight-bound model moves with ce almost one for one: ~0.5 log-sd; decode ~0.2
    assert 0.3 < without.sd_pp[0] < 0.6 and 0.1 < without.sd_tg[1] < 0.25
    with_rows = coverage.extrapolation("SWA/hybrid", f, params, cells, [], families={"pp": ["mxfp4"], "tg": ["mxfp4"]})
    assert not with_rows.extrapolated.any() and with_rows.sd_pp[0] == 0
    # a calibration from before families were stored judges nothing
    assert not coverage.extrapolation("SWA/hybrid", f, params, cells, []).extrapolated.any()


def test_the_h200_quick_calibration_says_it_never_decoded_a_k_quant():
    """Its llama-bench rows ran Q8_0, Q4_0 and MXFP4; its MUL_MAT operator rows measured the K-quant
    prefill rate, so only decode is flagged."""
    a = one(model="llama-3.1-8b", quant="Q4_K_M", depth=0, hardware="h200-141", backend="vulkan-nvidia")
    assert a["extrapolated"] is True and any("weight type k (tg: rows have legacy, mxfp4, q8)" in x for x in a["warnings"])
    assert not any("weight type k (pp:" in x for x in a["warnings"])
    b = one(model="llama-3.1-8b", quant="Q8_0", depth=0, hardware="h200-141", backend="vulkan-nvidia")
    assert not any("weight type" in x for x in b["warnings"])


def test_a_prompt_shorter_than_any_prefill_row_is_flagged_and_widened_by_the_measured_spread():
    """Prefill rows are 512 tokens and longer; 1-128 token prompts run other kernels (validation/
    moe_short: -30 to +313 % on the H200). Such a prompt is extrapolated, its pp interval widened by
    SHORT_PROMPT_SD_LOG; a 512-token prompt and a decode-only query are not."""
    f = features("qwen3-30b-a3b-instruct-2507", "Q8_0", "vulkan-radv", [0, 0, 0], [16, 512, 0], [32, 32, 32])
    cells = coverage.coverage_cells(["pp", "tg"], ["coopmat1", "coopmat1"], [128, 128], [8, 8], ["GQA", "GQA"], [0, 0])
    ext = coverage.extrapolation("GQA", f, {}, cells, [], families={"pp": ["q8"], "tg": ["q8"]})
    assert "prompt of 16 tokens" in ext.warning(0) and ext.sd_pp[0] >= coverage.SHORT_PROMPT_SD_LOG
    assert not ext.extrapolated[1] and ext.sd_pp[1] == 0
    assert not ext.extrapolated[2]


def test_an_architecture_without_rows_is_named_but_not_widened():
    """The H200's rows are Llama, Qwen3-MoE, gpt-oss and GLM-4.7-Flash: Gemma 3 decoded 26-31 % slower
    than vtt said there without a flag (validation/h200_unseen). Its answer now names the
    architecture; the interval stays the calibration's (nested over held-out architectures)."""
    from dataclasses import replace

    import vtt.plan as vp
    from vtt.calibration import find_calibration
    from vtt.specs.catalog import load_world

    q = {"model": "gemma-3-12b", "quant": "Q8_0", "hardware": "h200-141", "backend": "vulkan-nvidia"}
    a = vp.plan(q)
    assert a.extrapolated and any("architecture gemma3" in w for w in a.warnings), a.warnings
    assert "not widened" not in a.warnings[0] and "did not see" in a.warnings[0]
    llama = vp.plan({**q, "model": "llama-3.1-8b"})
    assert not any("architecture" in w for w in llama.warnings)
    # the same answer from the calibration without its architectures: the same interval
    world = load_world()
    cal = find_calibration(world.roots, "h200-141", "vulkan-nvidia", None, world.get_backend("vulkan-nvidia").defaults)
    rm = vp.resolve_model(world, "gemma-3-12b", "Q8_0", None)
    hw, be = world.get_hardware("h200-141"), world.get_backend("vulkan-nvidia")
    (plain,) = vp._answer_group(rm, hw, be, replace(cal, archs=None), [vp.parse_query(q, world)])
    assert plain["pp_tps_interval"] == a.pp_tps_interval and plain["tg_tps_interval"] == a.tg_tps_interval
    assert plain["extrapolated"] is False
