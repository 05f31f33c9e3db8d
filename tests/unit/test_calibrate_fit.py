"""Synthetic truth: the fit recovers known speed parameters; intervals cover ~90 % of held-out rows."""

import numpy as np
import pytest

from vtt.calibration import Calibration
from vtt.calibrate.dataset import Dataset
from vtt.calibrate.fit import fit_calibration
from vtt.calibrate.rows import csv_rows, era_of, parse_build, select_rows
from vtt.calibrate.validate import naive_tps, sigma_for_coverage, subset
from vtt.cost import throughput
from vtt.cost.predict import Z90
from vtt.cost.throughput import FAMILIES, SpeedFeatures


def synthetic(n=240, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.uniform(2e9, 60e9, n)
    moe = rng.random(n) < 0.4
    depth = rng.choice([0, 4096, 16384, 32768], n).astype(float)
    tg = rng.random(n) < 0.5
    f = SpeedFeatures(
        w_decode_bytes=np.where(moe, w / 8, w), w_stream_bytes=w, p_active=np.where(moe, w / 8, w) * 1.8,
        is_moe=moe, family_idx=np.full(n, FAMILIES.index("k")), n_layers=rng.integers(24, 80, n).astype(float),
        n_moe_layers=np.where(moe, 40.0, 0.0), n_rec_layers=np.zeros(n),
        kv_full_bytes_per_cell=rng.uniform(2e4, 2e5, n), kv_swa_bytes_per_cell=np.zeros(n), swa_cells=np.zeros(n),
        state_bytes=np.zeros(n), attn_flops_full=rng.uniform(2e5, 8e5, n), attn_flops_swa=np.zeros(n),
        n_prompt=np.where(tg, 0.0, 512.0), n_gen=np.where(tg, 128.0, 0.0), depth=depth, n_ubatch=np.full(n, 512.0),
        flash_attn=np.ones(n, bool), bw_bytes_s=np.full(n, 256e9), peak_flops=np.full(n, 59.4e12))
    rows = [{"test": "tg" if t else "pp", "family": f"fam{i % 12}", "measured_tps": 1.0} for i, t in enumerate(tg)]
    return Dataset(rows, f, [None] * n)


TRUE = {"bw_eff": 0.82, "ce_k": 0.31, "moe_pp": 0.45, "kv_eff": 1.3}


def with_measurements(ds, params, noise, seed=1):
    rng = np.random.default_rng(seed)
    tps = np.where(ds.is_tg, throughput.tg_tps(ds.features, params), throughput.pp_tps(ds.features, params))
    meas = tps * np.exp(rng.normal(0, noise, len(tps)))
    for r, m in zip(ds.rows, meas):
        r["measured_tps"] = float(m)
    return ds


def test_fit_recovers_known_bandwidth_and_compute_efficiency():
    params = {**throughput.PARAM_DEFAULTS, **TRUE}
    ds = with_measurements(synthetic(), params, noise=0.01)
    cal = fit_calibration(ds, hardware="h", backend="b", names=list(TRUE))
    for k, v in TRUE.items():
        assert cal.params[k] == pytest.approx(v, rel=0.08), k


def test_interval_from_held_out_sigma_covers_about_90_percent():
    params = {**throughput.PARAM_DEFAULTS, **TRUE}
    ds = with_measurements(synthetic(n=600), params, noise=0.12, seed=3)
    train = subset(ds, np.arange(600) < 300)
    test = subset(ds, np.arange(600) >= 300)
    cal = fit_calibration(train, hardware="h", backend="b", names=list(TRUE))
    r_train = np.log(np.where(train.is_tg, throughput.tg_tps(train.features, cal.all_params()),
                              throughput.pp_tps(train.features, cal.all_params())) / train.measured)
    s = sigma_for_coverage(r_train, np.zeros(len(r_train)))
    r_test = np.log(np.where(test.is_tg, throughput.tg_tps(test.features, cal.all_params()),
                             throughput.pp_tps(test.features, cal.all_params())) / test.measured)
    coverage = np.mean(np.abs(r_test) <= Z90 * s)
    assert 0.84 <= coverage <= 0.96
    assert s == pytest.approx(0.12, rel=0.25)


def test_sigma_for_coverage_hits_the_target_share():
    r = np.random.default_rng(0).normal(0, 0.2, 5000)
    s = sigma_for_coverage(r, np.zeros(5000))
    assert np.mean(np.abs(r) <= Z90 * s) == pytest.approx(0.90, abs=0.005)


def test_naive_baseline_is_bandwidth_over_active_bytes():
    ds = synthetic(n=10)
    nv = naive_tps(ds)
    f = ds.features
    assert np.allclose(nv[ds.is_tg], (0.85 * 256e9 / f.w_decode_bytes)[ds.is_tg])


def test_moe_decode_reads_only_active_weights():
    ds = synthetic(n=50)
    f = ds.features
    p = dict(throughput.PARAM_DEFAULTS)
    dense_like = SpeedFeatures(**{**f.__dict__, "w_decode_bytes": f.w_stream_bytes})
    assert np.all(throughput.tg_tps(f, p)[f.is_moe] > throughput.tg_tps(dense_like, p)[f.is_moe])


def test_pp_speed_is_zero_not_nan_for_generation_tests():
    ds = synthetic(n=20)
    pp = throughput.pp_tps(ds.features, throughput.PARAM_DEFAULTS)
    assert np.all(np.isfinite(pp)) and np.all(pp[ds.is_tg] == 0)


def test_build_numbers_and_eras():
    assert parse_build("b9193 (1a68ec937)") == 9193
    assert parse_build("kyuz0 rocm-7.2 toolbox, b8038") == 8038
    assert parse_build("b0 (unknown)") is None
    assert era_of(6118) == "2025" and era_of(7938) == "2026" and era_of(None, "2025-08-04") == "2025"


def test_hip_rows_are_rocm_of_the_2025_era(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("backend,llama_cpp_build,source_date,model,n_prompt,n_gen,n_depth,pp_tps,tg_tps,n_ubatch,quant\n"
                 "hip,b6077 (83bc2f28),2025-08-04,llama-2-7b.Q4_0,512,0,0,900,,512,Q4_0\n"
                 "rocm,b9193 (1a),2026-05-16,llama-2-7b.Q4_0,512,0,0,1000,,512 (default),Q4_0\n")
    rows = csv_rows(p)
    assert [(r["backend"], r["era"], r["n_ubatch"]) for r in rows] == [("rocm", "2025", 512), ("rocm", "2026", 512)]
    assert len(select_rows(rows, "rocm", since=7000)) == 1


def test_calibration_round_trips_through_a_dict():
    cal = Calibration(id="x", hardware="h", backend="b", params={"bw_eff": 0.8}, residual_stats={"a": 1})
    assert Calibration.from_dict(cal.to_dict()) == cal


def test_calibration_file_is_parsed_once_per_mtime(tmp_path, monkeypatch):
    from vtt import calibration as calmod

    cal = Calibration(id="c1", hardware="h", backend="b", params={"bw_eff": 0.7}, n_points=3)
    path = calmod.write_calibration_yaml(cal, tmp_path / "b.yaml")
    calls = []
    real = calmod.read_yaml
    monkeypatch.setattr(calmod, "read_yaml", lambda p: calls.append(p) or real(p))
    a = calmod.load_calibration_file(path)
    b = calmod.load_calibration_file(path)
    assert len(calls) == 1 and a.params == b.params and a is not b
    a.params["bw_eff"] = 0.1  # a caller's change does not leak into the cache
    assert calmod.load_calibration_file(path).params["bw_eff"] == 0.7
    import os
    os.utime(path, ns=(1, 1))
    calmod.load_calibration_file(path)
    assert len(calls) == 2


def test_decode_families_are_fitted_relative_to_the_most_measured_one_without_k_quants():
    """No K-quant decode rows (e.g. an F16 / Q8_0 / Q4_0 matrix): dq of the other families is still free."""
    from vtt.calibrate.fit import free_params

    ds = synthetic(n=120)
    fams = np.array([FAMILIES.index(x) for x in ("q8", "q8", "f16", "legacy")] * 30)
    ds.features.family_idx = fams
    names = free_params(ds)
    assert "dq_f16" in names and "dq_legacy" in names and "dq_q8" not in names


def test_unfitted_parameters_keep_the_backend_defaults():
    """A family without rows (here IQ: no ce_iq in the fit) predicts at the backend's default ratio to
    the fitted K-quant rate, not the generic one: AMDVLK's ce_* defaults are ~3x below PARAM_DEFAULTS
    (32 KB shared memory), and its 2025 builds ran every family ~3x faster than its 2026 ones."""
    ds = with_measurements(synthetic(), {**throughput.PARAM_DEFAULTS, **TRUE}, 0.02)
    cal = fit_calibration(ds, hardware="hw", backend="be", base={"ce_iq": 0.06, "ce_k": 0.3, "kv_nofa": 3.0})
    assert "ce_iq" not in cal.param_names and "ce_k" in cal.param_names
    assert cal.params["ce_k"] != 0.3  # fitted ones are the fit's
    assert cal.all_params()["ce_iq"] == pytest.approx(cal.params["ce_k"] * 0.06 / 0.3)
    assert "kv_nofa" not in cal.param_names and cal.all_params()["kv_nofa"] == pytest.approx(3.0)
    assert list(cal.params)[: len(cal.param_names)] == cal.param_names


def test_fixed_cost_priors_are_wider_and_do_not_compound_with_prior_scale():
    from vtt.calibrate.fit import PRIOR_SD, prior_sd

    for k in ("t_layer_us", "t_moe_layer_us", "t_rec_layer_us", "t_token_us"):
        assert prior_sd(k) > PRIOR_SD
    assert prior_sd("bw_eff") == PRIOR_SD and prior_sd("t_ubatch_ms") == PRIOR_SD


def test_an_unfitted_mxfp4_family_follows_the_fitted_legacy_block_formats():
    from vtt.calibrate.fit import tied_params

    base = {"ce_legacy": 0.08, "ce_mxfp4": 0.07, "dq_legacy": 1.0, "dq_mxfp4": 1.0}
    out = tied_params({"ce_legacy": 0.16, "dq_legacy": 1.2}, ["ce_legacy", "dq_legacy"], base)
    assert out == pytest.approx({"ce_mxfp4": 0.14, "dq_mxfp4": 1.2})
    # a family fitted from its own rows keeps its own value
    assert "ce_mxfp4" not in tied_params({"ce_legacy": 0.16, "ce_mxfp4": 0.3}, ["ce_legacy", "ce_mxfp4"], base)


def test_folds_group_by_architecture_and_attention_kind_not_catalog_family():
    from vtt.calibrate.dataset import build_dataset
    from vtt.calibrate.validate import build_era, fold_labels
    from vtt.specs.catalog import load_world

    w = load_world()
    rows = [{"model": m, "quant": "Q4_K_M", "n_prompt": 512, "n_gen": 0, "pp_tps": 500.0, "build": b}
            for m, b in (("qwen3.5-35b-a3b", 8000), ("qwen3.6-35b-a3b", 9500), ("llama-2-7b", None),
                         ("llama-3.1-8b", 9000))]
    ds = build_dataset(rows, w, w.get_hardware("strix-halo-128"), backend=w.get_backend("rocm"))
    arch = fold_labels(ds, "architecture")
    assert arch[0] == arch[1] and arch[2] == arch[3] and arch[0] != arch[2]
    assert list(fold_labels(ds, "attention")) == ["SWA/hybrid", "SWA/hybrid", "MHA", "GQA"]
    assert list(fold_labels(ds, "build-era")) == [build_era(8000), build_era(9500), "build unknown", build_era(9000)]
    assert build_era(8000) != build_era(9500)


def test_q8_follows_the_legacy_formats_only_on_the_ggml_cuda_backends():
    from vtt.calibrate.fit import tied_params

    base = {"ce_legacy": 0.28, "ce_q8": 0.30, "dq_legacy": 1.0, "dq_q8": 1.0, "ce_mxfp4": 0.25, "dq_mxfp4": 1.0}
    fitted = {"ce_legacy": 0.37, "dq_legacy": 1.1}
    hip = tied_params(fitted, ["ce_legacy", "dq_legacy"], base, "rocm")
    assert hip["dq_q8"] == pytest.approx(1.1) and hip["ce_q8"] == pytest.approx(0.37 * 0.30 / 0.28)
    vk = tied_params(fitted, ["ce_legacy", "dq_legacy"], base, "vulkan-radv")
    assert "dq_q8" not in vk and "ce_q8" not in vk and "dq_mxfp4" in vk
    assert "dq_q8" not in tied_params({**fitted, "dq_q8": 1.2}, ["ce_legacy", "dq_legacy", "dq_q8"], base, "rocm")


def test_rocm_q8_decodes_a_tenth_faster_per_byte_than_the_fitted_q4_0_when_no_q8_row_says():
    # specs/backends/rocm.yaml: half the MMVQ dot work per byte; both ROCm eras fit 1.09-1.11
    from vtt.calibrate.fit import tied_params
    from vtt.cost.throughput import PARAM_DEFAULTS
    from vtt.specs.catalog import load_world

    base = {**PARAM_DEFAULTS, **load_world().get_backend("rocm").defaults}
    assert base["dq_q8"] / base["dq_legacy"] == pytest.approx(1.1)
    assert tied_params({"dq_legacy": 1.05}, ["dq_legacy"], base, "rocm")["dq_q8"] == pytest.approx(1.155)


def test_kv_vec_is_fitted_only_with_depth_decode_rows_on_both_hip_kernels():
    from vtt.calibrate.dataset import build_dataset
    from vtt.calibrate.fit import free_params
    from vtt.specs.catalog import load_world

    w = load_world()

    def row(model, quant, depth, tg):
        return {"model": model, "quant": quant, "n_prompt": 0 if tg else 512, "n_gen": 32 if tg else 0,
                "n_depth": depth, "flash_attn": 1, ("tg_tps" if tg else "pp_tps"): 10.0}

    rows = [row("llama-2-7b", "Q4_0", d, t) for d in (0, 32768) for t in (True, False)]
    gqa = [row("qwen3-30b-a3b", "Q4_K_M", d, t) for d in (0, 32768) for t in (True, False)]
    hw, be = w.get_hardware("strix-halo-128"), w.get_backend("rocm")
    assert "kv_vec" in free_params(build_dataset(rows + gqa, w, hw, backend=be))
    assert "kv_vec" not in free_params(build_dataset(gqa, w, hw, backend=be))
    assert "kv_vec" not in free_params(build_dataset(rows + gqa, w, hw, backend=w.get_backend("vulkan-radv")))


def test_the_residual_sigma_covers_the_rows_the_calibration_covered_not_only_all_rows():
    """Held-out rows of a weight type the fold never saw carry their own widening: counted with the
    rest they are covered by it, and the sigma for everything else must not shrink for that."""
    from vtt.calibrate.validate import CrossValidation

    rng = np.random.default_rng(5)
    ds = synthetic(n=400, seed=5)
    n = len(ds.rows)
    flagged = np.arange(n) < 200
    for r, d in zip(ds.rows, ds.features.depth):
        r["measured_tps"], r["n_depth"] = 1.0, int(d)
    inside_resid = rng.normal(0, 0.1, n)
    resid = np.where(flagged, rng.normal(0, 0.02, n), inside_resid)  # flagged rows: small residuals here
    ext = np.where(flagged, 0.5, 0.0)
    cv = CrossValidation(ds, np.exp(resid), ext.copy(), np.ones(n), ext_sd=ext)
    sig = cv.sigma()
    for test, sel in (("tg", ds.is_tg), ("pp", ~ds.is_tg)):
        inside = sel & ~flagged
        assert np.mean(np.abs(resid[inside]) <= Z90 * sig[test]) >= 0.89
    # without the flags the same rows would let it shrink: all rows are then judged together
    plain = CrossValidation(ds, np.exp(resid), ext.copy(), np.ones(n)).sigma()
    assert plain["tg"] < sig["tg"] and plain["pp"] < sig["pp"]


def test_the_head_width_law_is_fitted_only_where_the_rows_span_more_than_4x_in_width():
    """The public Strix Halo rows span widths 64-256 (fitted there the law was worse held out); the
    H100 matrix adds GLM-4.7-Flash's 576-wide latent beside 64 and 128."""
    from vtt.calibrate.fit import fa_path_params

    ds = synthetic(n=60, seed=2)
    f = ds.features
    n = len(ds.rows)
    f.fa_path_full = np.zeros(n, dtype=int)
    f.fa_ref = np.zeros(n, dtype=int)
    f.fa_path_swa = None
    for widths, fitted in (([64, 128, 256], False), ([64, 128, 576], True)):
        f.head_width = np.array([widths[i % 3] for i in range(n)], dtype=float)
        assert ("fa_hw2" in fa_path_params(ds)) is fitted, widths
