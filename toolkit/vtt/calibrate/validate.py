"""Leave-one-group-out cross-validation, honest interval widths, the naive baseline.

For each group of rows (FOLDS: the catalog's model family, the GGUF architecture, the attention
kind, the llama.cpp build era), the speed parameters are fitted on the other groups' rows and
scored on the held-out group's rows: the errors a user sees for a model, an attention design or
a build the calibration has never met. The residual sigma stored in a calibration is chosen from these
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
from vtt.cost.attention import attention_kind
from vtt.cost.coverage import DEPTH_BANDS, band_sigma, depth_band
from vtt.cost.predict import Z90, _log_sd_from_cov
from vtt.cost.throughput import SpeedFeatures

NAIVE_BW_EFF = 0.85  # naive tg: 0.85 x peak bandwidth / active weight bytes
NAIVE_CE = 0.25  # naive pp: 2 x active params FLOPs per token at 25 % of FP16 peak
TARGET_COVERAGE = 0.90
MIN_BAND_ROWS = 10  # a depth band's own sigma needs this many held-out rows; else the test's sigma


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


def extrapolation_sd(ds: Dataset, cal: Calibration) -> np.ndarray:
    """Per row: the log-sd vtt.cost.coverage adds for inputs outside `cal`'s rows (0 inside)."""
    from vtt.cost.coverage import extrapolation

    out = np.zeros(len(ds.rows))
    if not cal.coverage or not len(ds.rows):
        return out
    kinds = np.array([attention_kind(rm.arch) for rm in ds.resolved])
    for k in np.unique(kinds):
        m = kinds == k
        sub = subset(ds, m)
        ext = extrapolation(str(k), sub.features, cal.all_params(), cal.coverage, cal.param_names, cal.builds,
                            families=cal.families)
        out[m] = np.where(sub.is_tg, ext.sd_tg, ext.sd_pp)
    return out


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


ERA_SPLIT = 9000  # llama.cpp builds: ROCm FA got 1.5-2.6x faster on the WMMA path from b9187 on (issue 9)


def build_era(build) -> str:
    if build is None:
        return "build unknown"
    return f"< b{ERA_SPLIT}" if int(build) < ERA_SPLIT else f">= b{ERA_SPLIT}"


# Fold schemes: row -> the group it is held out with. "architecture" is the GGUF architecture
# (Qwen3.5 and Qwen3.6 MoE are both qwen35moe: one fold, where the catalog families split them).
FOLDS = {
    "family": lambda row, rm: row["family"],
    "architecture": lambda row, rm: rm.arch.arch,
    "attention": lambda row, rm: attention_kind(rm.arch),
    "build-era": lambda row, rm: build_era(row.get("build")),
}


def fold_labels(ds: Dataset, by: str) -> np.ndarray:
    return np.array([FOLDS[by](r, rm) for r, rm in zip(ds.rows, ds.resolved)])


def sigma_keys(ds: Dataset) -> np.ndarray:
    """Per row the sigma_log key it is scored with: test and depth band ('pp@d=0', 'tg@d>32K')."""
    return np.array([f"{r['test']}@{depth_band(int(r['n_depth']))}" for r in ds.rows])


@dataclass
class CrossValidation:
    """Held-out predictions for every row of one backend's data set."""

    ds: Dataset
    predicted: np.ndarray  # leave-family-out prediction
    psd: np.ndarray  # parameter log-sd of that prediction (from the fold's covariance)
    naive: np.ndarray
    folds: list[str] = field(default_factory=list)
    labels: np.ndarray | None = None  # the held-out group of each row
    by: str = "family"
    ext_sd: np.ndarray | None = None  # of psd, the widening for inputs outside the fold's rows

    @property
    def resid_log(self) -> np.ndarray:
        return np.log(self.predicted / self.ds.measured)

    def sigma(self, mask: np.ndarray | None = None) -> dict[str, float]:
        """Sigma per test, and per test x depth band where that band has >= MIN_BAND_ROWS rows."""
        m = np.isfinite(self.predicted) if mask is None else (mask & np.isfinite(self.predicted))
        # The residual sigma is what a query inside the calibration's rows gets, so it must cover
        # those rows on its own: an extrapolated row counted with them is covered by its own widening
        # and lets the sigma shrink below what the covered rows need (RADV held-out GQA pp d=0
        # coverage 98 -> 67 % when weight types without rows were first flagged). Both must hold.
        inside = m if self.ext_sd is None else m & (self.ext_sd == 0)
        tg = self.ds.is_tg

        def both(sel):
            s = sigma_for_coverage(self.resid_log[m & sel], self.psd[m & sel])
            if (inside & sel).sum() >= MIN_BAND_ROWS:
                s = max(s, sigma_for_coverage(self.resid_log[inside & sel], self.psd[inside & sel]))
            return s

        out = {k: both(sel) for k, sel in (("tg", tg), ("pp", ~tg)) if np.any(m & sel)}
        keys = sigma_keys(self.ds)
        for k in np.unique(keys):
            if (m & (keys == k)).sum() >= MIN_BAND_ROWS:
                out[str(k)] = both(keys == k)
        return out

    def nested_coverage(self) -> np.ndarray:
        """Per row: inside the 90 % interval whose sigma (per test and depth band) came from the
        OTHER held-out groups only."""
        fam = self.labels if self.labels is not None else np.array([r["family"] for r in self.ds.rows])
        inside = np.zeros(len(fam), bool)
        keys = sigma_keys(self.ds)
        r = np.abs(self.resid_log)
        for f in np.unique(fam):
            held = fam == f
            sig = self.sigma(~held)
            s = np.array([band_sigma(sig, *k.split("@")) for k in keys])
            inside[held] = (r <= Z90 * np.sqrt(s**2 + self.psd**2))[held]
        return inside


def cross_validate(ds: Dataset, *, hardware: str, backend: str, base: dict | None = None,
                   by: str = "family", prior_scale: float = 1.0) -> CrossValidation:
    fam = fold_labels(ds, by)
    pred = np.full(len(fam), np.nan)
    psd = np.zeros(len(fam))
    ext = np.zeros(len(fam))
    folds = sorted(set(fam))
    for f in folds:
        held = fam == f
        train = subset(ds, ~held)
        test = subset(ds, held)
        if not len(train.rows):
            continue
        cal = fit_calibration(train, hardware=hardware, backend=backend, base=base, prior_scale=prior_scale)
        pred[held] = predicted_tps(test, cal.all_params())
        # the interval as `vtt plan` gives it: the fitted parameters' spread, widened for inputs the
        # fold's rows do not cover (vtt.cost.coverage), so coverage scores the flag's widening too
        ext[held] = extrapolation_sd(test, cal)
        psd[held] = np.sqrt(param_sd(test, cal) ** 2 + ext[held] ** 2)
    return CrossValidation(ds, pred, psd, naive_tps(ds), folds, fam, by, ext)


def abs_pct(pred: np.ndarray, meas: np.ndarray) -> np.ndarray:
    return np.abs(pred / meas - 1.0) * 100.0


def summarize(err_pct: np.ndarray) -> dict:
    if not len(err_pct):
        return {"n": 0, "median": None, "p90": None}
    return {"n": int(len(err_pct)), "median": float(np.median(err_pct)), "p90": float(np.percentile(err_pct, 90))}

__all__ = ["DEPTH_BANDS", "depth_band"]  # re-exported: vtt.cost.coverage defines them
