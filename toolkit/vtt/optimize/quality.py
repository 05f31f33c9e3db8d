"""Quality as data: published coding scores -> one number with an interval, a quant term, a wide prior.

Read from specs/quality/ (benchmarks.yaml, scores.yaml, quant_degradation.yaml, prior.yaml) and the model
specs' `quality:` lists. Pure once loaded: `model_quality` and `quant_factor` compute, nothing else.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from vtt.specs.catalog import World, norm


@dataclass(frozen=True)
class Score:
    benchmark: str          # benchmark id (benchmarks.yaml)
    label: str              # as published
    score: float            # percent
    source: str


@dataclass(frozen=True)
class Quality:
    value: float                    # 0..1 on the reference benchmark's scale
    lo: float
    hi: float
    kind: str                       # "measured" or "prior"
    note: str                       # where it came from, readable


@dataclass
class QualityData:
    reference: str
    min_half_width: float
    benchmarks: dict[str, dict]                      # id -> {name, url, match}
    scores: dict[str, list[Score]]                   # model id -> scores
    ppl_delta: dict[str, float]
    penalty_per_ppl: float
    quant_source: str
    prior: dict
    ratio: dict[str, float] = field(default_factory=dict)   # benchmark -> multiplier onto the reference
    trend: tuple | None = None      # (points at 1 B params in 2025.0, per doubling, per year, rms, n): fit_trend

    def bench_of(self, label: str) -> str | None:
        low = label.lower()
        for bid, b in self.benchmarks.items():
            if any(m in low for m in b.get("match", [])):
                return bid
        return None


def load_quality(world: World) -> QualityData:
    from vtt.errors import SpecError
    from vtt.specs.yamlfile import read_yaml

    docs: dict[str, dict] = {}
    for root in world.roots:
        d = Path(root) / "quality"
        for name in ("benchmarks", "scores", "quant_degradation", "prior"):
            f = d / f"{name}.yaml"
            if f.is_file():
                data = read_yaml(f).data or {}
                if not isinstance(data, dict):
                    raise SpecError(f"{f}: expected a mapping")
                if name == "scores":
                    merged = docs.setdefault(name, {"scores": {}})
                    for k, v in (data.get("scores") or {}).items():
                        merged["scores"].setdefault(k, []).extend(v or [])
                else:
                    docs[name] = data
    missing = [n for n in ("benchmarks", "quant_degradation", "prior") if n not in docs]
    if missing:
        raise SpecError(f"specs/quality/{missing[0]}.yaml not found under {', '.join(map(str, world.roots))}")
    try:
        return _build(world, docs)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SpecError(f"specs/quality: malformed entry ({type(e).__name__}: {e})",
                        hint="see the comments at the top of each specs/quality/*.yaml") from None


def _build(world: World, docs: dict) -> QualityData:
    from vtt.errors import SpecError

    b = docs["benchmarks"]
    qd = QualityData(
        reference=b["reference"], min_half_width=float(b.get("min_half_width", 0.03)),
        benchmarks={x["id"]: x for x in b["benchmarks"]}, scores={},
        ppl_delta={norm(k): float(v) for k, v in (docs["quant_degradation"].get("ppl_delta") or {}).items()},
        penalty_per_ppl=float(docs["quant_degradation"].get("penalty_per_ppl", 0.1)),
        quant_source=str(docs["quant_degradation"].get("source", "")), prior=docs["prior"])
    raw: dict[str, list[tuple[str, float, str]]] = {}
    for m in world.models.values():
        for q in m.quality:
            raw.setdefault(m.id, []).append((q.benchmark, float(q.score), q.source))
    for mid, rows in (docs.get("scores", {}).get("scores") or {}).items():
        arch = world.find_model(mid)
        if arch is None:
            raise SpecError(f"specs/quality/scores.yaml: unknown model '{mid}'")
        for r in rows:
            raw.setdefault(arch.id, []).append((str(r["benchmark"]), float(r["score"]), str(r["source"])))
    for mid, rows in raw.items():
        seen, out = set(), []
        for label, score, src in rows:
            bid = qd.bench_of(label)
            # one published number cited twice (the model spec and scores.yaml, under other labels:
            # gpt-oss-20b's 60.7 as "SWE-bench Verified" and "... (reasoning high)") counts once
            if bid is None or not (0.0 <= score <= 100.0) or (bid, score) in seen:
                continue
            seen.add((bid, score))
            out.append(Score(bid, label, score, src))
        if out:
            qd.scores[mid] = out
    qd.ratio = _ratios(qd)
    qd.trend = fit_trend(qd, world)
    return qd


def _ratios(qd: QualityData) -> dict[str, float]:
    """benchmark -> median over models with both of (reference score / this score): the catalog's own data."""
    out = {qd.reference: 1.0}
    for bid in qd.benchmarks:
        if bid == qd.reference:
            continue
        rs = []
        for sc in qd.scores.values():
            ref = [s.score for s in sc if s.benchmark == qd.reference]
            oth = [s.score for s in sc if s.benchmark == bid and s.score > 0]
            if ref and oth:
                rs.append(statistics.mean(ref) / statistics.mean(oth))
        if rs:
            out[bid] = statistics.median(rs)
    return out


def _measured(qd: QualityData, scores: list[Score]) -> Quality | None:
    eq, parts = [], []
    for s in scores:
        r = qd.ratio.get(s.benchmark)
        if r is None:
            continue
        eq.append(min(100.0, s.score * r) / 100.0)
        parts.append(f"{s.label} {s.score:g}" + ("" if s.benchmark == qd.reference else f" (= {s.score * r:.1f} on {qd.benchmarks[qd.reference]['name']})"))
    if not eq:
        return None
    v = statistics.mean(eq)
    h = qd.min_half_width
    return Quality(v, max(0.0, min(min(eq), v - h)), min(1.0, max(max(eq), v + h)), "measured",
                   "; ".join(parts))


def _years(released: str | None) -> float | None:
    """'2025-07' -> 2025.5 (the month's start), None where the spec has no date."""
    try:
        y, m = str(released).split("-")[:2]
        return int(y) + (int(m) - 1) / 12
    except (ValueError, AttributeError):
        return None


def fit_trend(qd: QualityData, world: World) -> tuple | None:
    """Least squares of the published quality (percent) of every scored catalog model over log2(total
    params) and release date: (intercept, points per doubling, points per year, rms, n). The catalog's
    own data, not a typed constant (its values: validation/quality_prior.md; open models' SWE-bench
    Verified went from ~40 % at the end of 2024 to ~75 % in 2026). None with fewer than
    `trend_min_models` scored models. load_quality sets QualityData.trend with it."""
    import numpy as np

    pts = []
    for mid in qd.scores:
        a = world.models.get(mid)
        q = _measured(qd, qd.scores[mid]) if a is not None else None
        t = _years(a.released) if a is not None else None
        if q is None or t is None or not a.params_total_b:
            continue
        pts.append((math.log2(a.params_total_b), t - 2025.0, q.value * 100))
    if len(pts) < int(qd.prior.get("trend_min_models", 8)):
        return None
    x = np.array([(1.0, s, t) for s, t, _ in pts])
    y = np.array([v for _, _, v in pts])
    c = np.linalg.lstsq(x, y, rcond=None)[0]
    rms = float(np.sqrt(np.mean((y - x @ c) ** 2)))
    return float(c[0]), float(c[1]), float(c[2]), rms, len(pts)


def model_quality(qd: QualityData, world: World, model_id: str) -> Quality:
    """Published scores when there are any, else a prior (marked `prior`): from the scored model of the
    same family nearest in size and date, moved by the catalog's trend (points per doubling of total
    params and per year of release, fit_trend); without a family, the trend itself. Without enough scored
    models for a trend: the family's or the nearest size's score less prior.yaml's per_halving."""
    arch = world.models[model_id]
    if model_id in qd.scores and (q := _measured(qd, qd.scores[model_id])) is not None:
        return q
    scored = {mid: q for mid in qd.scores if mid in world.models and (q := _measured(qd, qd.scores[mid]))}
    pr = qd.prior
    if not scored:
        c, h = 0.5, float(pr["other_half_width"])
        return Quality(c, c - h, c + h, "prior", "prior: no published score anywhere in the catalog")
    fam = [mid for mid in scored if arch.family and world.models[mid].family == arch.family]
    size = max(arch.params_total_b or 0.1, 0.1)
    h = float(pr["family_half_width"] if fam else pr["other_half_width"])
    when = _years(arch.released)
    if qd.trend:
        a0, per_dbl, per_year, rms, n = qd.trend

        def moved(mid):  # the anchor's score carried to this model's size and date by the trend
            m = world.models[mid]
            dl = math.log2(size / max(m.params_total_b or 0.1, 0.1))
            dy = (when - _years(m.released)) if when is not None and _years(m.released) is not None else 0.0
            return scored[mid].value * 100 + per_dbl * dl + per_year * dy, dl, dy

        trend_txt = f"catalog trend {per_dbl:+.1f} per doubling of size, {per_year:+.0f} per year (n={n}, rms {rms:.0f})"
        if fam:
            anchor = min(fam, key=lambda m: abs(moved(m)[0] - scored[m].value * 100))
            c, dl, dy = moved(anchor)
            note = (f"prior: no published score; family {arch.family}: {anchor} {scored[anchor].value * 100:.1f} "
                    f"moved {c - scored[anchor].value * 100:+.1f} for x{2 ** dl:.2g} size and {dy:+.1f} years ({trend_txt})")
        else:
            c = a0 + per_dbl * math.log2(size) + per_year * ((when or 2025.0) - 2025.0)
            note = f"prior: no published score; {trend_txt}: {c:.1f} at {size:g} B, released {arch.released}"
        # [judgement] a guess never outranks the best published score in the catalog: the trend is fitted
        # inside the scored models' range and a newer, larger model beyond it is an extrapolation
        best = max(q.value for q in scored.values()) * 100
        if c > best:
            note += f"; capped at the catalog's best published {best:.1f}"
        c = min(max(min(c, best) / 100, 0.0), 1.0)
        return Quality(c, max(0.0, c - h), min(1.0, c + h), "prior", note + f", +-{h * 100:.0f}")
    anchor = min(fam or scored, key=lambda m: abs(math.log(max(world.models[m].params_total_b, 0.1) / size)))
    halvings = max(0.0, math.log2(max(world.models[anchor].params_total_b, 0.1) / size))
    c = max(0.0, scored[anchor].value - float(pr["per_halving"]) * halvings)
    how = f"family {arch.family}: " if fam else "nearest scored size: "
    note = (f"prior: no published score; {how}{anchor} {scored[anchor].value * 100:.1f}"
            + (f" less {float(pr['per_halving']) * 100:.0f} per halving of size x {halvings:.1f}" if halvings else "")
            + f", +-{h * 100:.0f}")
    return Quality(c, max(0.0, c - h), min(1.0, c + h), "prior", note)


_BASE_TO_QUANT = {"q8_0": "Q8_0", "q6_K": "Q6_K", "q5_K": "Q5_K_M", "q4_K": "Q4_K_M", "q3_K": "Q3_K_M",
                  "q2_K": "Q2_K", "q4_0": "Q4_0", "q4_1": "Q4_1", "q5_0": "Q5_0", "q5_1": "Q5_1",
                  "f16": "F16", "bf16": "BF16", "f32": "F32", "mxfp4": "MXFP4"}


def quant_factor(qd: QualityData, world: World | None, quant: str) -> tuple[float, str]:
    """(quality kept, note) of a quant from llama.cpp's perplexity increases."""
    d = qd.ppl_delta.get(norm(quant))
    how = ""
    if d is None and world is not None and (ft := world.find_quant(quant)) is not None:
        d = qd.ppl_delta.get(norm(ft.id))
        if d is None:
            base = _BASE_TO_QUANT.get(ft.base)
            if base is None:   # IQ and other types: the K-quant of the same bit width
                bits = next((c for c in ft.base if c.isdigit()), "4")
                base = {"1": "Q2_K", "2": "Q2_K", "3": "Q3_K_M", "4": "Q4_K_S", "5": "Q5_K_S", "6": "Q6_K"}.get(bits, "Q4_0")
            d = qd.ppl_delta.get(norm(base))
            how = f" (as {base}: no row for {ft.id})"
    if d is None:
        d, how = qd.ppl_delta.get(norm("Q4_0"), 0.5), f" (as Q4_0: unknown quant {quant})"
    f = max(0.0, 1.0 - qd.penalty_per_ppl * d)
    return f, f"x {f:.3f} for {quant}: +{d:g} ppl{how}"
