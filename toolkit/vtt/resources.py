"""vtt's own data files, found beside this module so any install finds them.

`vtt/_specs`, `vtt/_data` and `vtt/_seed` are package data in a wheel. In the repository they
are symlinks to the top-level `specs/`, `validation/data/` and `fixtures/seed/`, so an editable
install (and a clone) reads the live tree, and the build copies their files into the wheel
(pyproject.toml, [tool.setuptools.package-data]).
"""

from __future__ import annotations

from pathlib import Path

from vtt.errors import SpecError

CALIBRATION_CSV = "strix_halo_calibration.csv"  # the public rows vtt is calibrated on (validation/SOURCES.md)
SEED_TABLES = "seed_tables.yaml"


def packaged(name: str) -> Path:
    """A directory shipped inside the vtt package (`_specs`, `_data`, `_seed`), as a real path."""
    # Beside this file, not importlib.resources.files("vtt"): the same path for a package on disk (vtt
    # needs real paths, so no zip install), and 8 ms less of `vtt plan`'s start-up (its imports).
    p = Path(__file__).parent / name
    if not p.is_dir():
        raise SpecError(f"vtt's packaged '{name}' directory is missing at {p}; reinstall vtt",
                        hint="from a clone: pip install . (the repository's symlinks toolkit/vtt/_* must be intact)")
    return p


def specs_dir() -> Path:
    return packaged("_specs")


def calibration_csv() -> Path:
    return packaged("_data") / CALIBRATION_CSV


def seed_tables() -> Path:
    return packaged("_seed") / SEED_TABLES
