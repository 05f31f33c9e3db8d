"""Compare two sets of llama-bench results: Mann-Whitney U plus an effect-size floor.

Direction is explicit: t/s is higher-is-better, so a regression is a significant change that is
slower by more than `min_effect`. Threads are not part of the matching key (a 1- vs 2-thread
run of the same model must be compared and flagged); they are shown as a difference instead.
Pure: rows in, verdicts (data) out.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

NS_PER_S = 1e9

# Fields that must be equal for two results to measure the same thing.
KEY_FIELDS = ("model", "model_type", "n_prompt", "n_gen", "n_depth", "flash_attn", "n_ubatch", "n_batch",
              "type_k", "type_v", "n_gpu_layers", "backends", "embeddings")
# Fields that may differ between baseline and candidate; shown, never matched on. Size and parameter count
# show a file replaced under the same name (re-quantized, re-downloaded).
SHOWN_FIELDS = ("n_threads", "build_commit", "build_number", "cpu_info", "gpu_info", "load_mode", "use_mmap",
                "model_size", "model_n_params")


@dataclass
class DriftVerdict:
    test: str
    key: dict
    baseline_tps: float | None
    candidate_tps: float | None
    change: float | None  # candidate median / baseline median - 1
    p_value: float | None
    n_baseline: int
    n_candidate: int
    verdict: str  # regression, improvement, no_change, not_significant, insufficient_samples
    reason: str
    differences: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DriftReport:
    verdicts: list[DriftVerdict]
    only_baseline: list[str]
    only_candidate: list[str]
    min_effect: float
    alpha: float

    @property
    def regressed(self) -> bool:
        return any(v.verdict == "regression" for v in self.verdicts)

    def to_dict(self) -> dict:
        return {"regressed": self.regressed, "min_effect": self.min_effect, "alpha": self.alpha,
                "verdicts": [v.to_dict() for v in self.verdicts],
                "only_baseline": self.only_baseline, "only_candidate": self.only_candidate}


def bench_test_name(row: dict) -> str:
    """llama-bench's markdown test name: pp512, tg128, pp512+tg128, with ' @ d4096' for depth."""
    n_prompt, n_gen, n_depth = row.get("n_prompt") or 0, row.get("n_gen") or 0, row.get("n_depth") or 0
    parts = ([f"pp{n_prompt}"] if n_prompt else []) + ([f"tg{n_gen}"] if n_gen else [])
    name = "+".join(parts) or "?"
    return f"{name} @ d{n_depth}" if n_depth else name


def config_key(row: dict, across: tuple[str, ...] = ()) -> tuple:
    """The fields that must match; `across` names key fields the comparison is about (backends)."""
    model = row.get("model_filename")
    values = {"model": Path(model).name if model else None, **{k: row.get(k) for k in KEY_FIELDS[1:]}}
    return tuple(sorted((k, v) for k, v in values.items() if k not in across))


def sample_tps(row: dict) -> list[float]:
    """Per-repetition t/s = 1e9 * (n_prompt + n_gen) / ns; falls back to avg_ts when samples are missing."""
    tokens = (row.get("n_prompt") or 0) + (row.get("n_gen") or 0)
    samples = [ns for ns in row.get("samples_ns") or [] if ns and ns > 0]
    if samples and tokens:
        return [NS_PER_S * tokens / ns for ns in samples]
    avg = row.get("avg_ts")
    return [float(avg)] if avg else []


def min_two_sided_p(n1: int, n2: int) -> float:
    """Smallest p an exact Mann-Whitney test can give with these sizes (asv checks this too)."""
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def needed_repetitions(alpha: float, have: int = 1) -> int:
    """The fewest repetitions per run (the same in both) with which an exact Mann-Whitney test can reach
    p < alpha at all: 2 / C(2k, k) <= alpha."""
    k = max(1, have)
    while min_two_sided_p(k, k) > alpha and k < 10_000:
        k += 1
    return k


def _group(rows: list[dict], across: tuple[str, ...] = ()) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(config_key(row, across), []).append(row)
    return groups


def _differences(base: list[dict], cand: list[dict], across: tuple[str, ...] = ()) -> dict:
    out = {}
    for name in SHOWN_FIELDS + tuple(across):
        b = sorted({str(r.get(name)) for r in base if r.get(name) is not None})
        c = sorted({str(r.get(name)) for r in cand if r.get(name) is not None})
        if b != c:
            out[name] = [",".join(b), ",".join(c)]
    return out


def compare_samples(base_tps: list[float], cand_tps: list[float], *, min_effect: float, alpha: float
                    ) -> tuple[str, str, float | None, float | None]:
    """(verdict, reason, change, p_value) for two samples of t/s."""
    from scipy.stats import mannwhitneyu

    if not base_tps or not cand_tps:
        return "insufficient_samples", "no samples on one side", None, None
    change = statistics.median(cand_tps) / statistics.median(base_tps) - 1.0
    if sorted(base_tps) == sorted(cand_tps):
        p_value = 1.0
    else:
        p_value = float(mannwhitneyu(base_tps, cand_tps, alternative="two-sided").pvalue)
    floor = min_two_sided_p(len(base_tps), len(cand_tps))
    if floor > alpha and abs(change) < min_effect:
        return ("no_change", f"|change| {abs(change):.1%} < floor {min_effect:.0%} (too few samples for a test, "
                "and below the floor anyway)", change, p_value)
    if floor > alpha:
        return ("insufficient_samples",
                f"{len(base_tps)}+{len(cand_tps)} samples cannot reach p < {alpha:g} (best {floor:.3g}); "
                f"rerun with more repetitions (both runs at least -r {needed_repetitions(alpha)})", change, p_value)
    if p_value >= alpha:
        return "not_significant", f"p = {p_value:.3g} >= alpha {alpha:g}", change, p_value
    if abs(change) < min_effect:
        return "no_change", f"significant but |change| {abs(change):.1%} < floor {min_effect:.0%}", change, p_value
    if change < 0:
        return "regression", f"slower by {-change:.1%} (p = {p_value:.3g})", change, p_value
    return "improvement", f"faster by {change:.1%} (p = {p_value:.3g})", change, p_value


def compare_runs(baseline: list[dict], candidate: list[dict], *, min_effect: float = 0.05,
                 alpha: float = 0.01, across: tuple[str, ...] = ()) -> DriftReport:
    """Match rows by configuration key and judge each matched test.

    `across`: key fields allowed to differ because they are what is compared (e.g. `backends`
    for a Vulkan build against a CUDA build of the same llama.cpp); they are shown, not matched.
    """
    unknown = set(across) - set(KEY_FIELDS)
    if unknown:
        raise ValueError(f"not a key field: {', '.join(sorted(unknown))} (one of {', '.join(KEY_FIELDS)})")
    base_groups, cand_groups = _group(baseline, across), _group(candidate, across)
    verdicts = []
    for key, base_rows in base_groups.items():
        cand_rows = cand_groups.get(key)
        if not cand_rows:
            continue
        base_tps = [t for r in base_rows for t in sample_tps(r)]
        cand_tps = [t for r in cand_rows for t in sample_tps(r)]
        verdict, reason, change, p_value = compare_samples(base_tps, cand_tps, min_effect=min_effect, alpha=alpha)
        verdicts.append(DriftVerdict(
            test=bench_test_name(base_rows[0]), key=dict(key),
            baseline_tps=statistics.median(base_tps) if base_tps else None,
            candidate_tps=statistics.median(cand_tps) if cand_tps else None,
            change=change, p_value=p_value, n_baseline=len(base_tps), n_candidate=len(cand_tps),
            verdict=verdict, reason=reason, differences=_differences(base_rows, cand_rows, across)))
    names = lambda groups, other: sorted(bench_test_name(rows[0]) for k, rows in groups.items() if k not in other)
    return DriftReport(verdicts, names(base_groups, cand_groups), names(cand_groups, base_groups),
                       min_effect, alpha)
