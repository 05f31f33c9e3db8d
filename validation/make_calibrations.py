"""Regenerate the shipped default calibrations: specs/calibrations/strix-halo-128/<backend>.yaml.

    .venv/bin/python validation/make_calibrations.py [--csv PATH]

The public CSV (validation/SOURCES.md) is ingested with `vtt ingest` into a scratch DuckDB
store, then each backend is fitted on its 2026 llama.cpp builds (>= b7000; see
vtt.calibrate.rows for why 2025 HIP and AMDVLK builds are a different era) with
leave-one-family-out sigma. The 2025 builds of a backend with enough rows (ROCm/HIP, AMDVLK) get
a calibration of their own (`<backend>--era-b5863-...yaml`), which `vtt plan --build N` picks for
a 2025 build (vtt.calibration.find_calibration: the nearest build range): on public 2025 logs of
models the CSV lacks (validation/public_heldout), ROCm pp went 102 -> 47 % median, tg 7.8 -> 4.5 %.
Deterministic for a given CSV and catalog.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "validation" / "data" / "strix_halo_calibration.csv"  # validation/SOURCES.md
HARDWARE = "strix-halo-128"
BACKENDS = ("vulkan-radv", "vulkan-amdvlk", "rocm")
SINCE = 7000


def _write(cal, out: Path, backend: str, what: str, default: bool, label: str) -> None:
    """One calibration file: `<backend>.yaml` for the default (newest era), else
    `<backend>--era-<builds>.yaml`, content-stable (no creation time: the build range and n_points
    say what it is), with its LOFO medians printed."""
    from vtt.calibration import write_calibration_yaml

    cal.created_at = None
    header = (f"# {what} for {HARDWARE} / {backend}: fitted by validation/make_calibrations.py\n"
              f"# from {cal.n_points} public llama-bench rows, llama.cpp {cal.builds}. Do not edit by hand.\n")
    name = f"{backend}.yaml" if default else f"{backend}--era-{cal.builds.replace(' .. ', '-').replace(' ', '')}.yaml"
    path = write_calibration_yaml(cal, out / name, header)
    lofo = cal.residual_stats["leave_family_out"]
    print(f"{label}, LOFO tg {lofo['tg']['median']:.1f}% pp {lofo['pp']['median']:.1f}% -> {path}")


def main() -> None:
    from vtt.calibrate.pipeline import MIN_ERA_ROWS, calibrate_rows, load_rows
    from vtt.calibration import split_by_era
    from vtt.calibrate.rows import select_rows
    from vtt.harness.ingest import ingest_files
    from vtt.specs.catalog import load_world

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default=str(DEFAULT_CSV))
    ap.add_argument("--out", default=str(ROOT / "specs" / "calibrations" / HARDWARE))
    args = ap.parse_args()
    world = load_world()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "calibration.duckdb"
        ingest_files([args.csv], db=db, label="strix-halo-public-csv", hardware=HARDWARE)
        rows = load_rows(db=str(db))
    for backend in BACKENDS:
        sel = select_rows(rows, backend, since=SINCE)
        eras = [g for g in split_by_era(sel, backend) if len(g) >= MIN_ERA_ROWS]
        # Kernel eras (vtt.calibration.KERNEL_ERAS: ROCm's WMMA flash attention from b9187): every term
        # fitted on all rows, then each era's attention terms on its own rows, one file per era.
        shared = None
        if len(eras) > 1:
            shared, _ = calibrate_rows(sel, world, HARDWARE, backend, cross_validation=False)
        for i, era_rows in enumerate(eras):
            newest = i == len(eras) - 1
            cal, _ = calibrate_rows(era_rows, world, HARDWARE, backend, era_of=shared,
                                    cal_id=f"{HARDWARE}--{backend}--public-2026" + ("" if newest else f"--era{i}"),
                                    notes=f"shipped default: public llama-bench rows (validation/SOURCES.md), "
                                          f"llama.cpp builds >= b{SINCE} (forks and patched builds left out: "
                                          f"vtt.calibrate.rows.VARIANTS)"
                                          + (f", kernel era {i}: attention terms of its rows, the rest of all "
                                             f"{len(sel)} rows" if shared else "")
                                          + "; regenerate with validation/make_calibrations.py")
            _write(cal, Path(args.out), backend, "Shipped calibration", default=newest,
                   label=f"{backend}: {cal.n_points} rows, {cal.builds}, sigma {cal.sigma_log}")
        # 2025 builds: their own era (prompt kernels 2-4x apart from 2026's), never pooled with 2026 rows
        old = select_rows(rows, backend, era="2025")
        if len(old) >= MIN_ERA_ROWS:
            cal, _ = calibrate_rows(old, world, HARDWARE, backend, cal_id=f"{HARDWARE}--{backend}--public-2025",
                                    notes="public llama-bench rows (validation/SOURCES.md) of llama.cpp 2025 builds "
                                          f"(< b{SINCE}): HIP with hipBLASLt / rocWMMA toggled, AMDVLK before its "
                                          "32 KB shared-memory regression; for --build N of that era; regenerate "
                                          "with validation/make_calibrations.py")
            _write(cal, Path(args.out), backend, "2025-era calibration", default=False,
                   label=f"{backend} 2025: {cal.n_points} rows, {cal.builds}")

if __name__ == "__main__":
    main()
