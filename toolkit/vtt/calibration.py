"""A calibration: fitted speed parameters for one hardware x backend, with their uncertainty.

Shipped defaults live in specs/calibrations/<hardware>/<backend>.yaml; `vtt calibrate` writes
new ones to the DuckDB store and exports them as YAML under the user data directory, which
`vtt plan` reads (newest first) without touching the database.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vtt.cost.throughput import PARAM_DEFAULTS
from vtt.errors import UnknownName

# Log-space spread of uncalibrated (physics-default) predictions: wide on purpose.
UNCALIBRATED_SIGMA = {"tg": 0.35, "pp": 0.5}


@dataclass
class Calibration:
    id: str
    hardware: str
    backend: str
    params: dict[str, float]
    sigma_log: dict[str, float] = field(default_factory=lambda: dict(UNCALIBRATED_SIGMA))
    param_names: list[str] = field(default_factory=list)  # order of the covariance matrix
    covariance: list[list[float]] | None = None  # of log(params)
    n_points: int = 0
    builds: str | None = None  # llama.cpp build range of the data
    residual_stats: dict | None = None  # in-sample and leave-family-out error summaries
    created_at: str | None = None
    notes: str | None = None

    @property
    def is_physics_default(self) -> bool:
        return self.n_points == 0

    def all_params(self) -> dict[str, float]:
        return {**PARAM_DEFAULTS, **self.params}

    def cov(self) -> np.ndarray | None:
        return np.asarray(self.covariance, dtype=float) if self.covariance else None

    def to_dict(self) -> dict:
        return {
            "id": self.id, "hardware": self.hardware, "backend": self.backend,
            "params": self.params, "sigma_log": self.sigma_log, "param_names": self.param_names,
            "covariance": self.covariance, "n_points": self.n_points, "builds": self.builds,
            "residual_stats": self.residual_stats,
            "created_at": self.created_at, "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def physics_default(hardware: str, backend: str, backend_defaults: dict | None = None) -> Calibration:
    return Calibration(
        id="physics-default", hardware=hardware, backend=backend,
        params=dict(backend_defaults or {}), notes="uncalibrated: physics defaults of the backend spec",
    )


def user_calibration_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vtt" / "calibrations"


def _candidates(spec_roots: list[Path], hardware: str, backend: str) -> list[Path]:
    out = []
    udir = user_calibration_dir() / hardware / backend
    if udir.is_dir():
        out += sorted(udir.glob("*.yaml"), reverse=True)  # ids sort by time: newest first
    for root in reversed(spec_roots):
        p = root / "calibrations" / hardware / f"{backend}.yaml"
        if p.is_file():
            out.append(p)
    return out


_FILE_CACHE: dict[tuple[str, int, int], dict] = {}


def read_yaml(path):
    from vtt.specs.yamlfile import read_yaml as read  # yaml is imported only when a file is parsed

    return read(path)


def load_calibration_file(path: Path) -> Calibration:
    """Parse a calibration YAML once per (path, mtime, size): a `plan_many` batch asks for the same
    backend's calibration once per (model, quant) group. Each call returns a fresh Calibration."""
    from vtt.cache import disk_cached, file_key

    st = Path(path).stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    data = _FILE_CACHE.get(key)
    if data is None:
        data = disk_cached("calibration", file_key(path), lambda: read_yaml(path).data)
        _FILE_CACHE[key] = data
    return Calibration.from_dict(copy.deepcopy(data))


def find_calibration(spec_roots, hardware: str, backend: str, calibration_id: str | None = None,
                     backend_defaults: dict | None = None) -> Calibration:
    """The newest calibration for hardware x backend, or the one named, or physics defaults."""
    for p in _candidates(spec_roots, hardware, backend):
        cal = load_calibration_file(p)
        if calibration_id is None or cal.id == calibration_id:
            return cal
    if calibration_id not in (None, "physics-default"):
        raise UnknownName(f"unknown calibration '{calibration_id}' for {hardware}/{backend}",
                          hint="list them with: vtt calibrate --list")
    return physics_default(hardware, backend, backend_defaults)


def write_calibration_yaml(cal: Calibration, path: Path, header: str | None = None) -> Path:
    """Write a calibration as YAML (the form `vtt plan` reads)."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(cal.to_dict(), sort_keys=False, width=120)
    path.write_text((header or "") + text)
    return path


def export_user_calibration(cal: Calibration) -> Path:
    """$XDG_DATA_HOME/vtt/calibrations/<hw>/<backend>/<id>.yaml: `vtt plan` picks the newest."""
    return write_calibration_yaml(cal, user_calibration_dir() / cal.hardware / cal.backend / f"{cal.id}.yaml")


def list_calibrations(spec_roots, hardware: str | None = None, backend: str | None = None) -> list[dict]:
    """Every calibration file vtt can see (user ones first, newest first; then shipped)."""
    out = []
    pats = []
    udir = user_calibration_dir()
    if udir.is_dir():
        pats += [("user", p) for p in sorted(udir.glob("*/*/*.yaml"), reverse=True)]
    for root in reversed(list(spec_roots)):
        d = Path(root) / "calibrations"
        if d.is_dir():
            pats += [("shipped", p) for p in sorted(d.glob("*/*.yaml"))]
    for origin, p in pats:
        cal = load_calibration_file(p)
        if (hardware and cal.hardware != hardware) or (backend and cal.backend != backend):
            continue
        out.append({"id": cal.id, "hardware": cal.hardware, "backend": cal.backend, "origin": origin,
                    "n_points": cal.n_points, "builds": cal.builds, "created_at": cal.created_at, "path": str(p)})
    return out
