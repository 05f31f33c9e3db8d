"""`vtt drift`: did the candidate run get slower than the baseline? Exit 1 if so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


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
    Exit status: 0 no regression, 1 a regression, 2 bad input (unknown label).

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
        base_run = store.resolve_run(s, baseline)
        cand_run = store.resolve_run(s, candidate)
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
        report = compare_runs(base_rows, cand_rows, min_effect=min_effect, alpha=alpha, across=tuple(across or ()))
    checks = []
    if against_prediction and serve_runs:
        from vtt.drift.serve import check_serve_against_prediction

        checks = check_serve_against_prediction(cand_rows, cand_run)
    if against_prediction and not serve_runs:
        from vtt.drift.vs_prediction import check_against_prediction, default_predict_fn

        checks = check_against_prediction(cand_rows, default_predict_fn())
    if as_json:
        out = report.to_dict() | {"baseline": {k: base_run[k] for k in ("run_id", "label")},
                                  "candidate": {k: cand_run[k] for k in ("run_id", "label")}}
        if against_prediction:
            out["against_prediction"] = [c.to_dict() for c in checks]
        print(json.dumps(out, indent=2, default=str))
    else:
        _render(report, base_run, cand_run)
        for c in checks:
            unit, nd = ("s", 4) if c.test.endswith("ttft_s") else ("t/s", 2)  # serve runs check TTFT too
            print(f"{c.test}: measured {c.measured_tps:.{nd}f} {unit}, predicted {c.predicted_tps:.{nd}f} "
                  f"[{c.lo_tps:.{nd}f}, {c.hi_tps:.{nd}f}]: {c.verdict.replace('_', ' ')}")
    if report.regressed or any(c.verdict != "within" for c in checks):
        raise typer.Exit(1)
