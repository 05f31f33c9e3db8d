"""The committed validation reports say what today's code gives. A change that moves a held-out number
must regenerate its report; one that moves it unnoticed fails here. (The H100 half-split went from pp
7.3 to 14.7 % over several commits because validation/gpu/REPORT.md was never regenerated.) These are
not accuracy targets: they check that a report is current, whatever its numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _report_row(path: Path, label: str) -> list[float]:
    line = next(x for x in path.read_text().splitlines() if x.startswith(f"| {label} |"))
    return [float(v) for v in re.findall(r"\d+\.\d+", line)]


def test_the_h100_half_split_report_is_current(tmp_path):
    import importlib.util

    from vtt.specs.catalog import default_world

    # by its path: validation/rpc has an analyze.py too, and another test may have imported that one
    spec = importlib.util.spec_from_file_location("gpu_analyze", ROOT / "validation" / "gpu" / "analyze.py")
    analyze = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(analyze)  # it puts validation/gpu on sys.path for its own `import matrix`

    rows, _ = analyze.matrix_rows(tmp_path)
    tg, pp = analyze.score_split(rows, 0, default_world())
    report = ROOT / "validation" / "gpu" / "REPORT.md"
    # the seeds table: seed 0 first, the mean last
    assert tg == pytest.approx(_report_row(report, "tg")[0], abs=0.051)
    assert pp == pytest.approx(_report_row(report, "pp")[0], abs=0.051)


def test_the_strix_halo_fold_table_is_current():
    from vtt.calibrate.report.compute import group_results
    from vtt.calibrate.rows import csv_rows
    from vtt.resources import calibration_csv
    from vtt.specs.catalog import load_world

    groups = group_results(csv_rows(calibration_csv()), load_world())
    text = (ROOT / "validation" / "REPORT.md").read_text()
    checked = 0
    for g in groups:
        for scheme in ("family", "attention"):
            st = g.stats(scheme)
            if not st:
                continue
            line = next(x for x in text.splitlines() if x.startswith(f"| {g.backend} | {g.era} | {scheme} |"))
            for s, cell in zip(st, line.split("|")[5:]):
                if st[s]["median"] is None:
                    continue
                median = float(cell.split("/")[0])
                coverage = float(re.search(r"cov (\d+) %", cell).group(1))
                assert st[s]["median"] == pytest.approx(median, abs=0.051), (g.backend, g.era, scheme, s)
                assert 100 * st[s]["coverage"] == pytest.approx(coverage, abs=0.51), (g.backend, g.era, scheme, s)
                checked += 1
    assert checked >= 20


def test_the_quality_prior_report_is_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("quality_prior", ROOT / "validation" / "quality_prior.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.main()
    text = (ROOT / "validation" / "quality_prior.md").read_text()
    for r in rows:
        assert f"| {r['model']} | {r['released']} | {r['published']:.1f} | {r['trend']:.1f} | {r['before']:.1f} |" in text, r
