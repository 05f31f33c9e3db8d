"""A wheel built from this tree works on its own: specs and data are package data, from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("vtt-*.whl")
    return whl


def test_wheel_carries_specs_data_and_seed(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    specs = {n for n in names if n.startswith("vtt/_specs/")}
    repo_specs = {f"vtt/_specs/{p.relative_to(ROOT / 'specs').as_posix()}" for p in (ROOT / "specs").rglob("*.yaml")}
    assert specs == repo_specs  # every spec file, nothing else
    assert {"vtt/_data/strix_halo_calibration.csv", "vtt/_seed/seed_tables.yaml"} <= names


def test_wheel_in_a_fresh_venv_answers_plan_from_root(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / "python"
    # The wheel alone goes into the fresh venv; its dependencies come from this interpreter's
    # site-packages through a .pth file (no index needed, and no vtt from this tree).
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                        str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("VTT_SPECS", "PYTHONPATH")}
    where = subprocess.run([str(py), "-c", "import vtt, vtt.resources as r; print(vtt.__file__); print(r.specs_dir())"],
                           capture_output=True, text=True, cwd="/", env=env)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(site)) for line in where.stdout.split()), where.stdout  # not this tree
    plan = subprocess.run([str(bindir / "vtt"), "plan", "glm-4.7-flash", "-c", "65536", "--json"],
                          capture_output=True, text=True, cwd="/", env=env, timeout=120)
    assert plan.returncode == 0, plan.stderr
    answer = json.loads(plan.stdout)
    assert answer["model"] == "glm-4.7-flash" and answer["context"] == 65536 and answer["fits"] is True
    assert answer["calibration"].startswith("strix-halo-128--vulkan-radv")  # the shipped calibration was found
    ver = subprocess.run([str(bindir / "vtt"), "--version"], capture_output=True, text=True, cwd="/", env=env)
    assert ver.returncode == 0 and ver.stdout.startswith("vtt ")
