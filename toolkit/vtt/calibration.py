"""A calibration: fitted speed parameters for one hardware x backend, with their uncertainty.

Shipped defaults live in specs/calibrations/<hardware>/<backend>.yaml; `vtt calibrate` writes
new ones to the DuckDB store and exports them as YAML under the user data directory, which
`vtt plan` reads (newest first) without touching the database.

The llama.cpp build is an input: each calibration records the build range of its rows
(`builds`: 'b7938 .. b10273', or 'commit 0c1e570' for a source tree without build numbers), and
`find_calibration(..., build=N)` picks the one whose range covers N. Where a backend's kernels
changed (KERNEL_ERAS), rows of the two sides are fitted as separate calibrations, never pooled.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vtt.cost.throughput import PARAM_DEFAULTS
from vtt.errors import SpecError, UnknownName

# Builds where a backend's kernels changed enough that rows on either side must not be pooled:
# the first build of each new era. ROCm flash attention on the WMMA path got 1.5-2.6x faster
# between the early-2026 builds (b7938) and b9187+ (issue 9; public Strix Halo rows of both eras).
KERNEL_ERAS: dict[str, tuple[int, ...]] = {"rocm": (9187,)}

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
    # cells the fitted rows cover: (test, FA path, head width, GQA, attention kind, depth band, n);
    # vtt.cost.coverage flags queries outside them. None: a calibration from before they were stored.
    coverage: list[dict] | None = None
    # weight families (vtt.cost.throughput.FAMILIES) of the rows the matmul terms were fitted on, per
    # test: {'pp': ['k', 'q8'], 'tg': [...]}; another family's prefill / decode rate is a prior and
    # vtt.cost.coverage flags it. None: a calibration from before they were stored (nothing flagged).
    families: dict[str, list[str]] | None = None
    # GGUF architectures (general.architecture) of the rows, per test: an answer for another one says so
    # (its layers' extra operations, norms and routers were never timed here). None: not stored.
    archs: dict[str, list[str]] | None = None
    # this machine's flash-attention rate against KV length per attention shape, from `vtt bench ops
    # --profile depth` (vtt.cost.depth_curve): prompts at depth on models of these shapes follow it
    attn_depth: list[dict] | None = None
    created_at: str | None = None
    notes: str | None = None

    @property
    def is_physics_default(self) -> bool:
        return self.n_points == 0

    def all_params(self) -> dict[str, float]:
        return {**PARAM_DEFAULTS, **self.params}

    def build_bounds(self) -> tuple[int, int] | None:
        """(min, max) build number of the rows, or None when they carried no build numbers."""
        return parse_build_range(self.builds)

    def covers_build(self, build) -> bool:
        """True when `build` (a number, 'b9187', or a commit prefix) lies in this calibration's rows' range."""
        n, commit = parse_build_query(build)
        if n is not None:
            b = self.build_bounds()
            return b is not None and b[0] <= n <= b[1]
        return bool(commit) and commit in build_commits(self.builds)

    def cov(self) -> np.ndarray | None:
        return np.asarray(self.covariance, dtype=float) if self.covariance else None

    def to_dict(self) -> dict:
        return {
            "id": self.id, "hardware": self.hardware, "backend": self.backend,
            "params": self.params, "sigma_log": self.sigma_log, "param_names": self.param_names,
            "covariance": self.covariance, "n_points": self.n_points, "builds": self.builds,
            "residual_stats": self.residual_stats, "coverage": self.coverage, "families": self.families,
            "archs": self.archs, "attn_depth": self.attn_depth,
            "created_at": self.created_at, "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        cal = cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
        if cal.attn_depth is not None:
            check_depth_curves(cal.attn_depth, f"calibration {cal.id}")
        return cal


def check_depth_curves(curves, source: str = "calibration") -> None:
    """Depth curves (vtt.cost.depth_curve) as a calibration file holds them, or a SpecError naming what is
    wrong: a hand-edited or damaged file must not reach np.interp (unsorted lengths answer nonsense,
    strings a traceback)."""
    if not isinstance(curves, list):
        raise SpecError(f"{source}: attn_depth must be a list of depth curves", hint="delete the key, or re-run vtt calibrate")
    for i, c in enumerate(curves):
        ok = isinstance(c, dict) and isinstance(c.get("geometry"), str) and isinstance(c.get("n_kv"), list) \
            and isinstance(c.get("slowdown"), list) and len(c["n_kv"]) == len(c["slowdown"]) >= 2
        try:
            kv = np.asarray(c["n_kv"], dtype=float) if ok else None
            s = np.asarray(c["slowdown"], dtype=float) if ok else None
        except (TypeError, ValueError):
            ok = False
        ok = ok and bool(np.all(np.isfinite(kv)) and np.all(np.diff(kv) > 0) and kv[0] > 0
                         and np.all(np.isfinite(s)) and np.all(s > 0) and np.all(s < 1e3))
        if not ok:
            raise SpecError(f"{source}: attn_depth[{i}] is not a depth curve (geometry, increasing n_kv, one positive "
                            "slowdown per length)", hint="delete it, or re-run vtt calibrate")


def parse_build_range(text) -> tuple[int, int] | None:
    """'b7938 .. b10273' -> (7938, 10273); 'b9193' -> (9193, 9193); None or commits only -> None."""
    nums = [int(x) for x in re.findall(r"\bb(\d+)\b", str(text or "")) if int(x) > 1]
    return (min(nums), max(nums)) if nums else None


def build_commits(text) -> set[str]:
    """Commit ids named in a build range: 'commit 0c1e570' -> {'0c1e570'}."""
    m = re.search(r"commits?\s+([0-9a-f, ]+)", str(text or ""))
    return {c.strip()[:7] for c in m.group(1).split(",") if c.strip()} if m else set()


def parse_build_query(build) -> tuple[int | None, str | None]:
    """A build asked for: 9187, 'b9187', '9187' -> (9187, None); '0c1e570...' -> (None, '0c1e570')."""
    if build is None:
        return None, None
    if isinstance(build, (int, np.integer)):
        return (int(build) if build > 1 else None), None
    t = str(build).strip().lower()
    m = re.fullmatch(r"b?(\d{1,6})", t)
    if m:
        return (int(m.group(1)) if int(m.group(1)) > 1 else None), None
    if re.fullmatch(r"[0-9a-f]{7,40}", t):
        return None, t[:7]
    from vtt.errors import BadQuery

    raise BadQuery(f"bad build '{build}': give a llama.cpp build number (b9187) or commit (0c1e570)")


def describe_builds(rows: list[dict]) -> str | None:
    """The build range of rows: 'b7938 .. b10273' from build numbers; rows with none (a source tree
    without git history reports build 1) are named by commit: 'commit 0c1e570'."""
    nums = sorted({int(r["build"]) for r in rows if r.get("build") and int(r["build"]) > 1})
    commits = sorted({str(r.get("build_commit"))[:7] for r in rows
                      if not (r.get("build") and int(r["build"]) > 1) and r.get("build_commit")
                      and str(r.get("build_commit")) not in ("unknown", "None")})
    parts = []
    if nums:
        parts.append(f"b{nums[0]} .. b{nums[-1]}")
    if commits:
        parts.append("commit " + ", ".join(commits))
    return "; ".join(parts) or None


def kernel_era(backend: str, build: int | None) -> int:
    """Index of the kernel era `build` falls in for `backend` (0 when the backend has none or the build is unknown)."""
    if build is None or build <= 1:
        return 0
    return sum(build >= b for b in KERNEL_ERAS.get(backend, ()))


def split_by_era(rows: list[dict], backend: str) -> list[list[dict]]:
    """Rows grouped by kernel era, oldest first; rows without a build number go with the newest
    era (the pinned source and current toolboxes are newer than every era boundary)."""
    n_eras = len(KERNEL_ERAS.get(backend, ())) + 1
    groups: list[list[dict]] = [[] for _ in range(n_eras)]
    for r in rows:
        b = r.get("build")
        groups[kernel_era(backend, int(b)) if b and int(b) > 1 else n_eras - 1].append(r)
    return [g for g in groups if g]


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
        d = root / "calibrations" / hardware
        p = d / f"{backend}.yaml"
        if p.is_file():
            out.append(p)  # a shipped default: the newest kernel era, what a query without --build gets
        out += sorted(d.glob(f"{backend}--era-*.yaml"), reverse=True)  # older eras, for --build
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
                     backend_defaults: dict | None = None, build=None) -> Calibration:
    """The calibration for hardware x backend: the one named; else, for `build`, the newest whose
    build range covers it (none covers: the one whose range lies nearest, same kernel era first);
    else the newest (of one `vtt calibrate` batch split by era: the newest era). Physics defaults
    when there is none."""
    paths = _candidates(spec_roots, hardware, backend)
    if calibration_id is not None:
        for p in paths:
            cal = load_calibration_file(p)
            if cal.id == calibration_id:
                return cal
        if calibration_id != "physics-default":
            raise UnknownName(f"unknown calibration '{calibration_id}' for {hardware}/{backend}",
                              hint="list them with: vtt calibrate --list")
        return physics_default(hardware, backend, backend_defaults)
    if not paths:
        return physics_default(hardware, backend, backend_defaults)
    cals = [load_calibration_file(p) for p in paths]
    n, commit = parse_build_query(build)
    if n is None and commit is None:
        return _newest(cals)
    for cal in cals:
        if cal.covers_build(build):
            return cal
    if n is None:
        return _newest(cals)

    def distance(i: int):
        b = cals[i].build_bounds()
        if b is None:
            return (2, 0, i)
        same_era = kernel_era(backend, b[1]) == kernel_era(backend, n) or kernel_era(backend, b[0]) == kernel_era(backend, n)
        return (0 if same_era else 1, min(abs(n - b[0]), abs(n - b[1])), i)

    return cals[min(range(len(cals)), key=distance)]


def _newest(cals: list[Calibration]) -> Calibration:
    """The first (newest) calibration; if others were written in the same batch (one `vtt calibrate`
    split by kernel era: same created_at), the one of the newest builds."""
    first = cals[0]
    if not first.created_at:
        return first
    batch = [c for c in cals if c.created_at == first.created_at and c.hardware == first.hardware]
    return max(batch, key=lambda c: (c.build_bounds() or (0, 0))[1])


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
                    "n_points": cal.n_points, "builds": cal.builds, "build_bounds": cal.build_bounds(), "created_at": cal.created_at, "path": str(p)})
    return out
