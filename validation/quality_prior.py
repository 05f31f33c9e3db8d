"""How well vtt's quality prior guesses a published coding score it was not given: leave-one-model-out
over every scored catalog model (its scores removed, the trend refitted without it), for today's prior
(the catalog trend in size and release date, carried from the family where there is one) and for the
rule before it (the family's or nearest size's score less 10 points per halving).

    .venv/bin/python validation/quality_prior.py     # prints the table and medians (validation/quality_prior.md)
"""

from __future__ import annotations

import statistics


def main() -> list[dict]:
    from vtt.optimize.quality import fit_trend, load_quality, model_quality
    from vtt.specs.catalog import default_world

    world = default_world()
    full = load_quality(world)
    rows = []
    for mid in sorted(full.scores):
        truth = model_quality(full, world, mid)
        if truth.kind != "measured":
            continue
        guesses = {}
        for rule, min_models in (("trend", 8), ("before", 10 ** 6)):
            qd = load_quality(world)
            qd.scores.pop(mid)
            qd.prior = {**qd.prior, "trend_min_models": min_models}
            qd.trend = fit_trend(qd, world)  # refitted without the held-out model's scores
            g = model_quality(qd, world, mid)
            guesses[rule] = g
        rows.append({"model": mid, "released": world.models[mid].released, "published": truth.value * 100,
                     "trend": guesses["trend"].value * 100, "before": guesses["before"].value * 100,
                     "inside": guesses["trend"].lo <= truth.value <= guesses["trend"].hi,
                     "inside_before": guesses["before"].lo <= truth.value <= guesses["before"].hi})
    return rows


if __name__ == "__main__":
    rows = main()
    print("| model | released | published (SWE-bench Verified scale) | prior now | prior before |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['released']} | {r['published']:.1f} | {r['trend']:.1f} | {r['before']:.1f} |")
    for k, inside in (("trend", "inside"), ("before", "inside_before")):
        err = [abs(r[k] - r["published"]) for r in rows]
        print(f"\n{k}: median |error| {statistics.median(err):.1f} points, mean {statistics.mean(err):.1f}, "
              f"max {max(err):.1f} (n={len(rows)}); published score inside the prior's interval "
              f"{sum(r[inside] for r in rows)}/{len(rows)}")
