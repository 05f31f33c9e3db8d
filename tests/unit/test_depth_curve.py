"""Depth curves: operator rows -> per-shape slowdown against KV length -> the prompt's attention time."""

from dataclasses import replace

import numpy as np
import pytest

from vtt.cost import throughput
from vtt.cost.depth_curve import attach, curves_from_ops, geometry_key, slowdown
from vtt.harness.ops import flash_attn, op_cases


def _row(d_k, h, hkv, n_q, n_kv, tflops, kv_type="f16"):
    c = flash_attn(d_k, d_k, h, hkv, n_q, n_kv, kv_type)
    return {"op": "FLASH_ATTN_EXT", "shape": c.dims, "flops_s": tflops * 1e12, "supported": True}


def test_curve_is_time_per_flop_against_the_shortest_length():
    rows = [_row(256, 24, 4, 512, kv, r) for kv, r in ((4096, 10.0), (16384, 5.0), (65536, 2.0))]
    rows += [_row(256, 24, 4, 512, 65536, 2.2), _row(256, 24, 4, 512, 65536, 1.8)]  # repeats: the median
    rows += [_row(256, 24, 4, 256, kv, 1.0) for kv in (4096, 16384, 65536)]  # another query width: not picked
    rows += [_row(128, 32, 8, 512, kv, 3.0) for kv in (4096, 16384)]  # two lengths: no curve
    rows += [_row(64, 64, 8, 512, kv, 3.0, "q8_0") for kv in (4096, 16384, 65536)]  # quantized cache: not ours
    (c,) = curves_from_ops(rows)
    assert c["geometry"] == geometry_key(256, 256, 24, 4) and c["n_q"] == 512
    assert c["n_kv"] == [4096, 16384, 65536] and c["slowdown"] == [1.0, 2.0, 5.0]


def test_slowdown_weights_the_cells_each_token_attends():
    c = {"n_kv": [4096, 65536], "slowdown": [1.0, 3.0]}
    assert slowdown(c, [0], [2048])[0] == pytest.approx(1.0)  # below the shortest length: the linear charge
    assert slowdown(c, [200000], [512])[0] == pytest.approx(3.0)  # past the longest: its last value
    # from depth 4096 to 65536 the rate falls linearly in the cells; heavier weight on the deep end
    mid = slowdown(c, [4096], [61440])[0]
    cells = np.linspace(4096, 65536, 100001)
    exact = np.sum(cells * np.interp(cells, [4096, 65536], [1.0, 3.0])) / np.sum(cells)
    assert mid == pytest.approx(exact, rel=2e-3) and mid > 2.0


def _features(n=1, depth=32768.0, geometry="256/256/24/4"):
    one = np.ones(n)
    return throughput.SpeedFeatures(
        w_decode_bytes=1e9 * one, w_stream_bytes=1e9 * one, p_active=1e9 * one, is_moe=np.zeros(n, bool),
        family_idx=np.zeros(n, int), n_layers=32 * one, n_moe_layers=0 * one, n_rec_layers=0 * one,
        kv_full_bytes_per_cell=65536 * one, kv_swa_bytes_per_cell=0 * one, swa_cells=0 * one, state_bytes=0 * one,
        attn_flops_full=4e5 * one, attn_flops_swa=0 * one, n_prompt=2048 * one, n_gen=0 * one, depth=depth * one,
        n_ubatch=512 * one, flash_attn=np.ones(n, bool), bw_bytes_s=2e11 * one, peak_flops=5e13 * one,
        fa_geometry=np.full(n, geometry, dtype=object))


def test_a_curve_scales_only_its_shapes_full_attention_kernel_time():
    curves = [{"geometry": "256/256/24/4", "n_q": 512, "n_kv": [4096, 65536], "slowdown": [1.0, 2.0]}]
    f = _features()
    assert attach(f, None) is f and attach(f, curves).attn_depth is not None
    assert attach(_features(geometry="128/128/32/8"), curves).attn_depth is None  # no curve: linear
    base, deep = throughput.prefill_terms(f, {}), throughput.prefill_terms(attach(f, curves), {})
    m = float(attach(f, curves).attn_depth[0])
    assert 1.0 < m < 2.0
    assert deep["attention"][0] == pytest.approx(m * base["attention"][0])
    assert deep["kv_rereads"][0] == pytest.approx(m * base["kv_rereads"][0])
    for k in ("matmul", "weight_stream", "ubatch_fixed"):
        assert np.allclose(deep[k], base[k])
    nofa = replace(attach(f, curves), flash_attn=np.zeros(1, bool))  # the curve is the FA kernel's
    assert throughput.prefill_terms(nofa, {})["attention"][0] == pytest.approx(
        throughput.prefill_terms(replace(f, flash_attn=np.zeros(1, bool)), {})["attention"][0])


def test_depth_profile_covers_the_asked_models_shapes_at_five_lengths():
    cases = op_cases("depth", models=["qwen3.6-27b", "glm-4.7-flash"])
    shapes = {(c.dims["d_k"], c.dims["n_head"], c.dims["n_head_kv"]) for c in cases}
    assert shapes == {(256, 24, 4), (576, 20, 1)}  # GLM-4.7-Flash: the MLA latent, one KV head
    assert sorted({c.dims["n_kv"] for c in cases}) == [4096, 8192, 16384, 32768, 65536]
    assert {c.dims["n_q"] for c in cases} == {512}


# Qwen3.6-27B's prefill attention rate on stock RADV against depth, as its llama-bench rows give it
# (validation/report_notes.md `## depth-knee`: TFLOP/s over the cells added between neighbouring depths,
# 9.3 at 4K to 1.4 from 44K). Whether test-backend-ops shows the same on that machine is what `vtt bench ops
# --profile depth` measures; here the curve is given, to test that the fit and the answers follow one.
RADV_27B_MARGINAL = ((0, 9.3), (8192, 5.6), (16384, 4.3), (24576, 3.4), (32768, 2.2), (40960, 1.4))


def radv_27b_ops():
    """Operator rows of a kernel run at one KV length: its rate over all its cells, the marginal rates' mean."""
    cells = np.arange(0, 65536, 256) + 128.0
    starts, rates = zip(*RADV_27B_MARGINAL)
    t = 1.0 / np.array(rates)[np.searchsorted(starts, cells, side="right") - 1]  # seconds per cell (x FLOPs)
    return [_row(256, 24, 4, 512, kv, 1.0 / np.mean(t[cells < kv])) for kv in (4096, 8192, 16384, 32768, 65536)]


def test_calibrate_stores_the_curve_and_plan_answers_with_it(tmp_path, monkeypatch):
    from vtt.calibrate.dataset import build_dataset
    from vtt.calibrate.pipeline import calibrate_rows
    from vtt.calibrate.rows import csv_rows, select_rows
    from vtt.calibration import export_user_calibration
    from vtt.plan import plan_many
    from vtt.resources import calibration_csv
    from vtt.specs.catalog import default_world

    world = default_world()
    rows = select_rows(csv_rows(calibration_csv()), "vulkan-radv", era="2026")
    ops = radv_27b_ops()
    linear, _ = calibrate_rows(rows, world, "strix-halo-128", "vulkan-radv", cross_validation=False)
    curved, _ = calibrate_rows(rows, world, "strix-halo-128", "vulkan-radv", cross_validation=False, op_rows=ops,
                               cal_id="strix-halo-128--vulkan-radv--depth-test")
    assert linear.attn_depth is None and curved.attn_depth[0]["geometry"] == "256/256/24/4"
    # the 27B's deep rows: the linear fit answers them 30-80 % too fast; the curve takes most of that away
    ds = build_dataset(rows, world, world.get_hardware("strix-halo-128"), backend=world.get_backend("vulkan-radv"))
    deep = np.array([r["model_id"] == "qwen3.6-27b" and r["test"] == "pp" and r["n_depth"] >= 40960 for r in ds.rows])
    assert deep.sum() >= 4

    def err(cal):
        p = throughput.pp_tps(attach(ds.features, cal.attn_depth), cal.all_params())
        return np.median(np.abs(np.log(p[deep] / ds.measured[deep])))

    assert err(linear) > np.log(1.3) and err(curved) < 0.7 * err(linear)
    # vtt plan reads the curve from the calibration file and says so
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    export_user_calibration(curved)
    q = {"model": "qwen3.6-27b", "quant": "Q8_0", "hardware": "strix-halo-128", "backend": "vulkan-radv",
         "n_prompt": 2048, "context": 70000}
    a, b = plan_many([{**q, "depth": 65536, "calibration": curved.id}, {**q, "depth": 0, "calibration": curved.id}])
    assert a["attn_depth_factor"] > 3 and b["attn_depth_factor"] == 1.0
    other = plan_many([{"model": "llama-2-7b", "quant": "Q4_0", "hardware": "strix-halo-128", "backend": "vulkan-radv",
                        "depth": 65536, "calibration": curved.id}])[0]
    assert "attn_depth_factor" not in other or other["attn_depth_factor"] == 1.0
    # vtt catalog coverage lists the shapes that have a curve
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "vtt.cli", "catalog", "coverage", "--hardware", "strix-halo-128",
                          "--backend", "vulkan-radv"], capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert out.returncode == 0 and "depth curve 256/256/24/4: 4096 x1" in out.stdout


def test_a_curve_comes_from_one_run_not_a_mix_of_days():
    sweep = [{**_row(256, 16, 2, 512, kv, r), "run_id": 7} for kv, r in ((4096, 112.0), (16384, 138.0), (65536, 146.0))]
    quick = [{**_row(256, 16, 2, 512, kv, r), "run_id": 3} for kv, r in ((4096, 90.0), (16384, 100.0))]
    (c,) = curves_from_ops(quick + sweep)
    assert c["slowdown"] == [1.0, round(112 / 138, 4), round(112 / 146, 4)]


@pytest.mark.parametrize("bad", ["curve", [{"geometry": "256/256/24/4", "n_kv": [65536, 4096], "slowdown": [1, 2]}],
                                 [{"geometry": "256/256/24/4", "n_kv": [4096, "x"], "slowdown": [1, 2]}],
                                 [{"geometry": "256/256/24/4", "n_kv": [4096, 8192], "slowdown": [1, -2]}],
                                 [{"geometry": 7, "n_kv": [4096, 8192], "slowdown": [1, 2]}]])
def test_a_damaged_curve_in_a_calibration_file_is_a_clear_error(bad):
    from vtt.calibration import Calibration
    from vtt.errors import SpecError

    with pytest.raises(SpecError, match="attn_depth"):
        Calibration.from_dict({"id": "x", "hardware": "h", "backend": "b", "params": {}, "attn_depth": bad})
