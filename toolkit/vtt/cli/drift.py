"""`vtt drift`: did the candidate run get slower than the baseline? Exit 1 if so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

TOO_FEW_REPETITIONS = 4     # exit status: no test can ever reach significance with these repetitions


def _pick_run(s, ref: str) -> dict:
    """A run id ('7', 'run:7') or a label with exactly one run; a label with several runs asks which."""
    from vtt import store
    from vtt.errors import BadQuery

    if not str(ref).startswith("run:"):
        runs = store.find_runs(s, label=str(ref))
        if len(runs) > 1:
            ids = ", ".join(f"run:{r['run_id']}" for r in runs[-8:])
            raise BadQuery(f"label '{ref}' has {len(runs)} runs: say which one ({ids})",
                           hint=f"for the latest: run:{runs[-1]['run_id']}; list them with: vtt runs")
    return store.resolve_run(s, ref)


def _known_hardware(run: dict) -> str:
    """The hardware spec the run was measured on; --against-prediction refuses hardware no spec describes
    (predicting it as another machine would give a meaningless verdict)."""
    from vtt.errors import BadQuery
    from vtt.specs.catalog import default_world

    world = default_world()
    hw = run.get("hardware")
    if not hw or hw not in world.hardware:
        raise BadQuery(f"run:{run['run_id']} ({run['label']}) was measured on hardware '{hw or 'unknown'}', which no "
                       "spec describes: vtt cannot predict it",
                       hint=f"add specs/hardware/<id>.yaml, or compare runs without --against-prediction; "
                            f"known: {', '.join(sorted(world.hardware))}")
    return hw


def _render(report, baseline: dict, candidate: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"baseline {baseline['label']} (run {baseline['run_id']}) -> "
                        f"candidate {candidate['label']} (run {candidate['run_id']})")
    for name, justify in (("model", "left"), ("test", "left"), ("baseline t/s", "right"),
                          ("candidate t/s", "right"), ("change", "right"), ("p-value", "right"),
                          ("verdict", "left"), ("differs", "left")):
        table.add_column(name, justify=justify)
    for v in report.verdicts:
        fmt = lambda x: f"{x:,.2f}" if x is not None else "-"
        differs = "; ".join(f"{k} {b}->{c}" for k, (b, c) in v.differences.items())
        table.add_row(str(v.key.get("model") or v.key.get("model_type")), v.test, fmt(v.baseline_tps),
                      fmt(v.candidate_tps), f"{v.change:+.1%}" if v.change is not None else "-",
                      f"{v.p_value:.3g}" if v.p_value is not None else "-", v.verdict.replace("_", " "), differs)
    console = Console()
    console.print(table)
    for title, names in (("only in baseline", report.only_baseline), ("only in candidate", report.only_candidate)):
        if names:
            console.print(f"{title}: {', '.join(names)}")
    if not report.verdicts:
        console.print("no matching tests between the two runs")
    n_reg = sum(v.verdict == "regression" for v in report.verdicts)
    console.print(f"{n_reg} regression(s) at alpha {report.alpha:g}, effect floor {report.min_effect:.0%}")


def drift(
    baseline: str = typer.Option(..., "--baseline", help="Label or run id of the reference run."),
    candidate: str = typer.Option(..., "--candidate", help="Label or run id of the run under test."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file (default ~/.local/share/vtt/vtt.duckdb)."),
    min_effect: float = typer.Option(0.05, "--min-effect", help="Smallest change that counts (0.05 = 5%)."),
    alpha: float = typer.Option(0.01, "--alpha", help="Significance level of the Mann-Whitney U test."),
    against_prediction: bool = typer.Option(False, "--against-prediction",
                                            help="Also check the candidate against vtt's predicted t/s band."),
    across: Optional[list[str]] = typer.Option(None, "--across", help="A key field allowed to differ because it is what you compare, e.g. --across backends for Vulkan vs CUDA builds."),
    as_json: bool = typer.Option(False, "--json", help="Print verdicts as JSON on stdout."),
) -> None:
    """Compare two runs test by test: per-sample t/s, Mann-Whitney U, and an effect floor.

    Tests are matched on model, test and parameters (threads and build may differ and are shown).
    A regression is significant (p < alpha) AND slower by at least --min-effect.
    Exit status: 0 no regression, 1 a regression, 2 bad input (unknown label, a label with several runs,
    --against-prediction on hardware no spec describes), 3 environment, 4 too few repetitions: a test
    changed by more than --min-effect but its repetitions can never reach significance at --alpha (the
    message says how many are needed).

    Example:
      vtt drift --baseline base --candidate nightly --min-effect 0.05

      vtt drift --baseline vulkan --candidate cuda --across backends
    """
    from vtt import store
    from vtt.drift.compare import compare_runs

    if not 0 < alpha < 1 or min_effect < 0:
        from vtt.errors import BadQuery

        raise BadQuery(f"bad --alpha {alpha:g} or --min-effect {min_effect:g} (want 0 < alpha < 1, min-effect >= 0)")
    from vtt.drift.compare import KEY_FIELDS

    bad = set(across or ()) - set(KEY_FIELDS)
    if bad:
        from vtt.errors import BadQuery

        raise BadQuery(f"bad --across {', '.join(sorted(bad))}: not a key field (one of {', '.join(KEY_FIELDS)})")
    with store.open_store(db, read_only=True) as s:
        base_run = _pick_run(s, baseline)
        cand_run = _pick_run(s, candidate)
        base_rows = store.results(s, run_id=base_run["run_id"])
        cand_rows = store.results(s, run_id=cand_run["run_id"])
    report = compare_runs(base_rows, cand_rows, min_effect=min_effect, alpha=alpha, across=tuple(across or ()))
    checks = []
    if against_prediction:
        from vtt.drift.vs_prediction import check_against_prediction, default_predict_fn

        hw = _known_hardware(cand_run)
        rows = [{**r, "hardware": hw, "backend": r.get("backend") or cand_run.get("backend")} for r in cand_rows]
        checks = check_against_prediction(rows, default_predict_fn())
    if as_json:
        out = report.to_dict() | {"baseline": {k: base_run[k] for k in ("run_id", "label")},
                                  "candidate": {k: cand_run[k] for k in ("run_id", "label")}}
        if against_prediction:
            out["against_prediction"] = [c.to_dict() for c in checks]
        print(json.dumps(out, indent=2, default=str))
    else:
        _render(report, base_run, cand_run)
        for c in checks:
            print(f"{c.test}: measured {c.measured_tps:.2f} t/s, predicted {c.predicted_tps:.2f} "
                  f"[{c.lo_tps:.2f}, {c.hi_tps:.2f}]: {c.verdict.replace('_', ' ')}")
    if report.regressed or any(c.verdict != "within" for c in checks):
        raise typer.Exit(1)
    short = [v for v in report.verdicts if v.verdict == "insufficient_samples"]
    if short:   # a change beyond the floor that these repetitions can never test: not a "no regression"
        import sys

        from vtt.drift.compare import needed_repetitions

        have = min(min(v.n_baseline, v.n_candidate) for v in short)
        print(f"vtt: too few repetitions: {len(short)} test(s) changed by more than the floor but {have} "
              f"repetitions can never reach p < {alpha:g}; rerun both runs with at least "
              f"-r {needed_repetitions(alpha, have)}", file=sys.stderr)
        raise typer.Exit(TOO_FEW_REPETITIONS)
