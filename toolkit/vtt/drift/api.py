"""`drift(...)`: the library call under `vtt drift`. Reads two runs, returns verdicts; no output.

    from vtt.drift.api import drift
    result = drift("base", "nightly", db="results.duckdb")
    result.regressed, [v.verdict for v in result.report.verdicts]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vtt.drift.compare import KEY_FIELDS, DriftReport, compare_runs
from vtt.drift.vs_prediction import PredictionCheck
from vtt.errors import BadQuery


@dataclass
class DriftResult:
    report: DriftReport
    baseline: dict  # the run (run_id, label, ...)
    candidate: dict
    against_prediction: list[PredictionCheck] | None = None  # None: not asked for

    @property
    def regressed(self) -> bool:
        """A significant slow-down past the effect floor, or a measurement outside its predicted band."""
        return self.report.regressed or any(c.verdict != "within" for c in self.against_prediction or ())

    def to_dict(self) -> dict:
        out = self.report.to_dict() | {"baseline": {k: self.baseline[k] for k in ("run_id", "label")},
                                       "candidate": {k: self.candidate[k] for k in ("run_id", "label")}}
        if self.against_prediction is not None:
            out["against_prediction"] = [c.to_dict() for c in self.against_prediction]
        return out


def drift(baseline: str, candidate: str, db: str | Path | None = None, *, min_effect: float = 0.05,
          alpha: float = 0.01, across: tuple[str, ...] = (), against_prediction: bool = False) -> DriftResult:
    """Compare run `candidate` with run `baseline` (labels or run ids) in the database `db`.

    Raises BadQuery for bad thresholds, an unknown key field in `across` or an unknown run.
    """
    from vtt import store

    if not 0 < alpha < 1 or min_effect < 0:
        raise BadQuery(f"bad --alpha {alpha:g} or --min-effect {min_effect:g} (want 0 < alpha < 1, min-effect >= 0)")
    bad = set(across) - set(KEY_FIELDS)
    if bad:
        raise BadQuery(f"bad --across {', '.join(sorted(bad))}: not a key field (one of {', '.join(KEY_FIELDS)})")
    with store.open_store(db, read_only=True) as s:
        base_run = pick_run(s, baseline)
        cand_run = pick_run(s, candidate)
        serve_runs = base_run["source"] == "serve" and cand_run["source"] == "serve"
        if serve_runs:  # requests to a llama-server (vtt bench serve / serve-soak)
            from vtt.store import serve_records

            base_rows = serve_records.requests(s, run_id=base_run["run_id"])
            cand_rows = serve_records.requests(s, run_id=cand_run["run_id"])
            soaks = [next((x["summary"] for x in serve_records.summaries(s, kind="soak", run_id=r["run_id"])), None)
                     for r in (base_run, cand_run)]
        else:
            base_rows = store.results(s, run_id=base_run["run_id"])
            cand_rows = store.results(s, run_id=cand_run["run_id"])
    if serve_runs:
        from vtt.drift.serve import compare_serve_runs

        report = compare_serve_runs(base_rows, cand_rows, min_effect=min_effect, alpha=alpha,
                                    base_soak=soaks[0], cand_soak=soaks[1])
    else:
        report = compare_runs(base_rows, cand_rows, min_effect=min_effect, alpha=alpha, across=tuple(across))
    checks = None
    if against_prediction and serve_runs:
        from vtt.drift.serve import check_serve_against_prediction

        checks = check_serve_against_prediction(cand_rows, cand_run)
    elif against_prediction:
        from vtt.drift.vs_prediction import check_against_prediction, default_predict_fn

        hw = known_hardware(cand_run)
        rows = [{**r, "hardware": hw, "backend": r.get("backend") or cand_run.get("backend")} for r in cand_rows]
        checks = check_against_prediction(rows, default_predict_fn())
    return DriftResult(report, base_run, cand_run, checks)


def pick_run(s, ref: str) -> dict:
    """A run id ('7', 'run:7') or a label with exactly one run; a label with several runs asks which."""
    from vtt import store

    if not str(ref).startswith("run:"):
        runs = store.find_runs(s, label=str(ref))
        if len(runs) > 1:
            ids = ", ".join(f"run:{r['run_id']}" for r in runs[-8:])
            raise BadQuery(f"label '{ref}' has {len(runs)} runs: say which one ({ids})",
                           hint=f"for the latest: run:{runs[-1]['run_id']}; list them with: vtt runs")
    return store.resolve_run(s, ref)


def known_hardware(run: dict) -> str:
    """The hardware spec the run was measured on; --against-prediction refuses hardware no spec describes
    (predicting it as another machine would give a meaningless verdict)."""
    from vtt.specs.catalog import default_world

    world = default_world()
    hw = run.get("hardware")
    if not hw or hw not in world.hardware:
        raise BadQuery(f"run:{run['run_id']} ({run['label']}) was measured on hardware '{hw or 'unknown'}', which no "
                       "spec describes: vtt cannot predict it",
                       hint=f"add specs/hardware/<id>.yaml, or compare runs without --against-prediction; "
                            f"known: {', '.join(sorted(world.hardware))}")
    return hw
