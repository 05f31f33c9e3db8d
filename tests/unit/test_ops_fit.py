"""Operator rows -> efficiencies and the parameters llama-bench rows could not identify."""

from __future__ import annotations

import pytest

from vtt.calibrate.ops_fit import (attention_efficiency_from_ops, decode_bandwidth_from_ops, fill_from_ops,
                                   head_width_band, matmul_efficiency_from_ops)
from vtt.harness.ops import flash_attn, mul_mat
from vtt.specs.catalog import default_world

PEAK = 989e12  # h100-sxm-80 fp16_tflops


def _row(case, eff, hardware="h100-sxm-80", backend="vulkan-nvidia"):
    flops = case.flops()
    t_us = flops / (eff * PEAK) * 1e6
    return {"op": case.op, "shape": case.dims, "flops_s": flops / (t_us * 1e-6), "time_us": t_us,
            "hardware": hardware, "backend": backend, "backend_name": "Vulkan0"}


def test_head_width_bands():
    assert [head_width_band(w) for w in (64, 128, 256, 576)] == ["<=128", "<=128", "129-256", ">256"]


def test_attention_efficiency_per_path_and_band_ignores_decode_and_short_kv():
    rows = [_row(flash_attn(128, 128, 32, 8, 512, n), 0.2) for n in (4096, 16384)]
    rows += [_row(flash_attn(576, 512, 20, 1, 512, 4096), 0.1), _row(flash_attn(128, 128, 32, 8, 1, 4096), 0.01),
             _row(flash_attn(128, 128, 32, 8, 512, 1024), 0.9)]
    eff = attention_efficiency_from_ops(rows, default_world())
    bands = {band: v for (path, band), v in eff.items()}
    assert set(bands) == {"<=128", ">256"}
    assert bands["<=128"] == pytest.approx(0.2) and bands[">256"] == pytest.approx(0.1)


def test_matmul_efficiency_and_decode_bandwidth_per_family():
    rows = [_row(mul_mat("f16", 4096, 512, 4096), 0.4), _row(mul_mat("q4_0", 4096, 512, 4096), 0.2),
            _row(mul_mat("q4_0", 4096, 1, 4096), 0.001)]
    w = default_world()
    assert matmul_efficiency_from_ops(rows, w) == pytest.approx({"f16": 0.4, "legacy": 0.2})
    bw = decode_bandwidth_from_ops(rows, w)
    # q4_0: 4.5 bits per weight; 2 FLOPs per weight at 0.001 of 989 TFLOPS
    t = 2 * 4096 * 4096 / (0.001 * PEAK)
    assert bw["legacy"] == pytest.approx(4096 * 4096 * 4.5 / 8 / t / 3350e9, rel=1e-6)


def test_fill_from_ops_sets_an_unfitted_family_from_the_operator_ratio():
    rows = [_row(mul_mat("f16", 4096, 512, 4096), 0.4), _row(mul_mat("q8_0", 4096, 512, 4096), 0.3)]
    params = {"ce_f16": 0.25, "ce_q8": 0.05}
    out, notes = fill_from_ops(params, ["ce_f16"], rows, default_world())
    assert out["ce_q8"] == pytest.approx(0.25 * 0.3 / 0.4) and out["ce_f16"] == 0.25
    assert notes and "ce_q8" in notes[0]
    # a fitted family is never overwritten
    out2, _ = fill_from_ops(params, ["ce_f16", "ce_q8"], rows, default_world())
    assert out2["ce_q8"] == 0.05
