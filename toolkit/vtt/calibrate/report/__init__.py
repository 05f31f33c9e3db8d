"""The accuracy report: validation/REPORT.md + validation/plots/*.png, from one call.

compute.py gets the numbers (held-out folds per backend x era, memory, seed), markdown.py writes
them, plots.py draws them; prose with experiment numbers lives in validation/report_notes.md.
"""

from __future__ import annotations

from pathlib import Path

from vtt.resources import calibration_csv


def default_csv() -> Path:
    """The public rows vtt is calibrated on: validation/data/, shipped as package data."""
    return calibration_csv()


def notes_path(out_dir: Path) -> Path:
    """validation/report_notes.md beside the report being written (a clone's validation/ by default)."""
    return Path(out_dir) / "report_notes.md" if (Path(out_dir) / "report_notes.md").is_file() \
        else Path("validation") / "report_notes.md"


def write_accuracy_report(csv: str | None = None, out_dir: Path | str = "validation", plots: bool = True) -> Path:
    from vtt.calibrate.report import compute, markdown
    from vtt.calibrate.rows import csv_rows
    from vtt.specs.catalog import load_world

    if plots:
        from vtt.calibrate.report.plots import matplotlib_pyplot

        matplotlib_pyplot()  # fail before the minute of fitting, not after
    out_dir = Path(out_dir)
    try:  # before the minute of fitting: a folder that cannot be made is said at once
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from vtt.errors import EnvironmentProblem

        raise EnvironmentProblem(f"cannot make the report folder {out_dir}: {e.strerror}") from None
    world = load_world()
    csv_path = Path(csv) if csv else default_csv()
    rows = csv_rows(csv_path)
    groups = compute.group_results(rows, world)
    mem_pts = compute.memory_points(rows, world)
    seed = compute.seed_comparison(rows, world)
    made = []
    if plots:
        from vtt.calibrate.report.plots import draw_plots

        made = draw_plots(groups, mem_pts, world, out_dir)
    text = markdown.render(groups, mem_pts, seed, len(rows), csv_path.name, made,
                           markdown.notes(notes_path(out_dir)), world, n_variant=sum(bool(r.get("variant")) for r in rows))
    path = out_dir / "REPORT.md"
    path.write_text(text)
    return path
