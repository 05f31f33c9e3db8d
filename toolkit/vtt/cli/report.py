"""`vtt report --accuracy`: leave-family-out accuracy report (validation/REPORT.md) with plots."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer


def report(
    accuracy: Annotated[bool, typer.Option("--accuracy", help="write the accuracy report (REPORT.md + plots)")] = True,
    csv: Annotated[Optional[str], typer.Option("--csv", help="measurements in the public calibration schema (default: vtt's own 1,485 public rows, validation/data/)")] = None,
    out: Annotated[Path, typer.Option("--out", help="folder for REPORT.md and plots/")] = Path("validation"),
    plots: Annotated[Optional[bool], typer.Option("--plots/--no-plots", help="draw PNGs with matplotlib (extra 'plots'); default: when matplotlib is installed")] = None,
):
    """Score the speed and memory model against public measurements, model families held out.

    Example:

      vtt report --accuracy --out validation
    """
    from vtt.calibrate.report import write_accuracy_report

    if plots is None:  # the report is the point; the PNGs only where the optional extra is installed
        import importlib.util

        plots = importlib.util.find_spec("matplotlib") is not None
        if not plots:
            print("vtt: plots skipped: matplotlib is not installed (pip install 'vtt[plots]')", file=sys.stderr)
    path = write_accuracy_report(csv=csv, out_dir=out, plots=plots)
    print(f"wrote {path}")
