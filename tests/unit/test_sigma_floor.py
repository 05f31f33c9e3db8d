"""A calibration's stored sigma (chosen from held-out residuals) is never below its own fit's
residual sigma: the shipped ROCm b7938-b8460 file once stored tg 0.0."""

from __future__ import annotations

import numpy as np
import yaml

from vtt.calibrate.pipeline import floor_sigma, in_sample_band_sigma
from vtt.resources import specs_dir


def test_floor_takes_the_band_then_the_test_in_sample_sigma():
    held = {"tg": 0.0, "tg@d=0": 0.01, "tg@d>32K": 0.2, "pp": 0.3}
    ins = {"tg": 0.06, "pp": 0.1, "tg@d=0": 0.05}
    out = floor_sigma(held, ins)
    assert out == {"tg": 0.06, "tg@d=0": 0.05, "tg@d>32K": 0.2, "pp": 0.3}


def test_band_sigma_needs_enough_rows_and_scales_for_fitted_parameters():
    r = np.array([0.1] * 10 + [0.3] * 3)
    keys = np.array(["tg@d=0"] * 10 + ["tg@d>32K"] * 3)
    out = in_sample_band_sigma(r, keys, 3)
    assert set(out) == {"tg@d=0"}  # 3 rows are too few for a band of their own
    assert abs(out["tg@d=0"] - 0.1 * np.sqrt(13 / 10)) < 1e-12


def test_shipped_calibrations_have_no_interval_narrower_than_their_fit():
    files = sorted((specs_dir() / "calibrations" / "strix-halo-128").glob("*.yaml"))
    assert files
    for f in files:
        cal = yaml.safe_load(f.read_text())
        ins = cal["residual_stats"]["in_sample_sigma"]
        for k, v in cal["sigma_log"].items():
            # a band may sit below its test's overall in-sample sigma, never near 0
            assert v >= 0.5 * ins[k.split("@")[0]] > 0, (f.name, k, v)


def test_a_depth_band_without_its_own_sigma_never_falls_below_a_shallower_band():
    from vtt.cost.coverage import band_sigma

    sig = {"pp": 0.2, "pp@d=0": 0.1, "pp@8K<d<=32K": 0.35, "tg": 0.1}
    assert band_sigma(sig, "pp", "d=0") == 0.1  # a band's own sigma is kept
    assert band_sigma(sig, "pp", "0<d<=8K") == 0.2  # the test's, above the depth-0 band's
    assert band_sigma(sig, "pp", "d>32K") == 0.35  # the 8K-32K band's, not the (mostly depth-0) test's
    assert band_sigma(sig, "tg", "d>32K") == 0.1 and band_sigma({}, "tg", "d=0") == 0.3
