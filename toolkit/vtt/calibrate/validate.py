"""Leave-one-model-family-out cross-validation, honest interval widths, the naive baseline.

For each model family (the catalog's `family`), the speed parameters are fitted on the other
families' rows and scored on the held-out family's rows: the errors a user sees for a model
the calibration has never met. The residual sigma stored in a calibration is chosen from these
held-out residuals so that the 90 % interval, computed exactly as `vtt plan` computes it
(sigma combined with the delta-method parameter spread), covers 90 % of held-out rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vtt.calibration import Calibration
from vtt.calibrate.dataset import Dataset
from vtt.calibrate.fit import fit_calibration
from vtt.cost import throughput
from vtt.cost.predict import Z90, _log_sd_from_cov
from vtt.cost.throughput import SpeedFeatures

NAIVE_BW_EFF = 0.85  # naive tg: 0.85 x peak bandwidth / active weight bytes
NAIVE_CE = 0.25  # naive pp: 2 x active params FLOPs per token at 25 % of FP16 peak
TARGET_COVERAGE = 0.90


def subset(ds: Dataset, mask: np.ndarray) -> Dataset:
    idx = np.flatnonzero(mask)
    f = ds.features
    feats = SpeedFeatures(**{k: (None if getattr(f, k) is None else getattr(f, k)[idx])
                             for k in SpeedFeatures.__dataclass_fields__})
    return Dataset([ds.rows[i] for i in idx], feats, [ds.resolved[i] for i in idx], [])


def naive_tps(ds: Dataset) -> np.ndarray:
    """The naive baseline per row: tg = 0.85 BW / active weight bytes, pp = 0.25 peak / (2 P_active)."""
    f = ds.features
    tg = NAIVE_BW_EFF * f.bw_bytes_s / f.w_decode_bytes
    pp = NAIVE_CE * f.peak_flops / (2.0 * f.p_active)
    return np.where(ds.is_tg, tg, pp)


def predicted_tps(ds: Dataset, params: dict) -> np.ndarray:
    f = ds.features
    return np.where(ds.is_tg, throughput.tg_tps(f, params), throughput.pp_tps(f, params))


def param_sd(ds: Dataset, cal: Calibration) -> np.ndarray:
    """Per-row log-sd of the prediction from the parameters' covariance (0 without one)."""
    cov = cal.cov()
    if cov is None or not cal.param_names or not len(ds.rows):
        return np.zeros(len(ds.rows))
    p = cal.all_params()
    sd_tg = _log_sd_from_cov(throughput.tg_tps, ds.features, p, cal.param_names, cov)
    sd_pp = _log_sd_from_cov(lambda f, q: np.maximum(throughput.pp_tps(f, q), 1e-12), ds.features, p,
                             cal.param_names, cov)
    return np.where(ds.is_tg, sd_tg, sd_pp)


def sigma_for_coverage(resid_log: np.ndarray, psd: np.ndarray, target: float = TARGET_COVERAGE) -> float:
    """The residual sigma s such that |r| <= Z90 sqrt(s^2 + psd^2) for `target` of the rows."""
    r = np.abs(resid_log)
    if not len(r):
        return 0.3
    lo, hi = 0.0, max(float(r.max()), 0.01) * 2
    for _ in range(60):
        mid = (lo + hi) / 2
        cov = np.mean(r <= Z90 * np.sqrt(mid**2 + psd**2))
        lo, hi = (mid, hi) if cov < target else (lo, mid)
    return hi


@dataclass
class CrossValidation:
    """Held-out predictions for every row of one backend's data set."""

    ds: Dataset
    predicted: np.ndarray  # leave-family-out prediction
    psd: np.ndarray  # parameter log-sd of that prediction (from the fold's covariance)
    naive: np.ndarray
    folds: list[str] = field(default_factory=list)

    @property
    def resid_log(self) -> np.ndarray:
        return np.log(self.predicted / self.ds.measured)

    def sigma(self, mask: np.ndarray | None = None) -> dict[str, float]:
        m = np.ones(len(self.predicted), bool) if mask is None else mask
        tg = self.ds.is_tg
        return {k: sigma_for_coverage(self.resid_log[m & sel], self.psd[m & sel])
                for k, sel in (("tg", tg), ("pp", ~tg)) if np.any(m & sel)}

    def nested_coverage(self) -> np.ndarray:
        """Per row: inside the 90 % interval whose sigma came from the OTHER families only."""
        fam = np.array([r["family"] for r in self.ds.rows])
        inside = np.zeros(len(fam), bool)
        tg = self.ds.is_tg
        r = np.abs(self.resid_log)
        for f in np.unique(fam):
            held = fam == f
            sig = self.sigma(~held)
            s = np.where(tg, sig.get("tg", 0.3), sig.get("pp", 0.3))
            inside[held] = (r <= Z90 * np.sqrt(s**2 + self.psd**2))[held]
        return inside


def cross_validate(ds: Dataset, *, hardware: str, backend: str, base: dict | None = None) -> CrossValidation:
    fam = np.array([r["family"] for r in ds.rows])
    pred = np.full(len(fam), np.nan)
    psd = np.zeros(len(fam))
    folds = sorted(set(fam))
    for f in folds:
        held = fam == f
        train = subset(ds, ~held)
        test = subset(ds, held)
        if not len(train.rows):
            continue
        cal = fit_calibration(train, hardware=hardware, backend=backend, base=base)
        pred[held] = predicted_tps(test, cal.all_params())
        psd[held] = param_sd(test, cal)
    return CrossValidation(ds, pred, psd, naive_tps(ds), folds)


def abs_pct(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    return np.abs(pred / meas - 1.0) * 100.0


def summarize(err_pct: np.ndarray) -> dict:
    if not len(err_pct):
        return {"n": 0, "median": None, "p90": None}
    return {"n": int(len(err_pct)), "median": float(np.median(err_pct)), "p90": float(np.percentile(err_pct, 90))}


def depth_band(depth: int) -> str:
    if depth == 0:
        return "d=0"
    if depth <= 8192:
        return "0<d<=8K"
    if depth <= 32768:
        return "8K<d<=32K"
    return "d>32K"


DEPTH_BANDS = ("d=0", "0<d<=8K", "8K<d<=32K", "d>32K")
