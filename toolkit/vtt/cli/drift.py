"""`vtt drift`: did the candidate run get slower than the baseline? Exit 1 if so."""

from __future__ import annotations

import json
from typing import Optional

import typer

from vtt.cli.options import DbOption, JsonOption

TOO_FEW_REPETITIONS = 4     # exit status: no test can ever reach significance with these repetitions


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
        table.add_row(str(v.key.get("model") or v.key.get("model_type") or v.key.get("request") or ""), v.test, fmt(v.baseline_tps),
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
    db: DbOption = None,
    min_effect: float = typer.Option(0.05, "--min-effect", help="Smallest change that counts (0.05 = 5%)."),
    alpha: float = typer.Option(0.01, "--alpha", help="Significance level of the Mann-Whitney U test."),
    against_prediction: bool = typer.Option(False, "--against-prediction",
                                            help="Also check the candidate against vtt's predicted t/s band."),
    across: Optional[list[str]] = typer.Option(None, "--across", help="A key field allowed to differ because it is what you compare, e.g. --across backends for Vulkan vs CUDA builds."),
    as_json: JsonOption = False,
) -> None:
    """Compare two runs test by test: per-sample t/s, Mann-Whitney U, and an effect floor.

    Tests are matched on model, test and parameters (threads and build may differ and are shown).
    A regression is significant (p < alpha) AND slower by at least --min-effect.
    Exit status: 0 no regression, 1 a regression, 2 bad input (unknown label, a label with several runs,
    --against-prediction on hardware no spec describes), 3 environment, 4 too few repetitions: a test
    changed by more than --min-effect but its repetitions can never reach significance at --alpha (the
    message says how many are needed).
    The same from Python: vtt.drift.api.drift(baseline, candidate, db=...).

    Example:
      vtt drift --baseline base --candidate nightly --min-effect 0.05

      vtt drift --baseline vulkan --candidate cuda --across backends
    """
    from vtt.drift.api import drift as drift_runs

    result = drift_runs(baseline, candidate, db, min_effect=min_effect, alpha=alpha, across=tuple(across or ()),
                        against_prediction=against_prediction)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _render(result.report, result.baseline, result.candidate)
        for c in result.against_prediction or ():
            unit, nd = ("s", 4) if c.test.endswith("ttft_s") else ("t/s", 2)  # serve runs check TTFT too
            print(f"{c.test}: measured {c.measured_tps:.{nd}f} {unit}, predicted {c.predicted_tps:.{nd}f} "
                  f"[{c.lo_tps:.{nd}f}, {c.hi_tps:.{nd}f}]: {c.verdict.replace('_', ' ')}")
    if result.regressed:
        raise typer.Exit(1)
    short = [v for v in result.report.verdicts if v.verdict == "insufficient_samples"]
    if short:   # a change beyond the floor that these repetitions can never test: not a "no regression"
        import sys

        from vtt.drift.compare import needed_repetitions

        have = min(min(v.n_baseline, v.n_candidate) for v in short)
        print(f"vtt: too few repetitions: {len(short)} test(s) changed by more than the floor but {have} "
              f"repetitions can never reach p < {alpha:g}; rerun both runs with at least "
              f"-r {needed_repetitions(alpha, have)}", file=sys.stderr)
        raise typer.Exit(TOO_FEW_REPETITIONS)
