"""Build as an input: calibrations record their build range; find_calibration chooses by build."""

from __future__ import annotations

import pytest

from vtt.calibration import (Calibration, describe_builds, export_user_calibration, find_calibration,
                                       kernel_era, parse_build_query, split_by_era)
from vtt.errors import BadQuery


def _cal(cid, builds, created="2026-11-30T00:00:00+00:00", **params):
    return Calibration(id=cid, hardware="hw-test", backend="rocm", params=params or {"bw_eff": 0.5},
                       n_points=10, builds=builds, created_at=created)


def test_describe_builds_names_numbers_and_commits_of_unnumbered_builds():
    rows = [{"build": 7938}, {"build": 10273}, {"build": 1, "build_commit": "0c1e57098bba"}]
    assert describe_builds(rows) == "b7938 .. b10273; commit 0c1e570"
    assert describe_builds([{"build": None}]) is None


def test_covers_build_by_number_and_by_commit():
    c = _cal("a", "b7938 .. b9100; commit 0c1e570")
    assert c.build_bounds() == (7938, 9100)
    assert c.covers_build(8000) and c.covers_build("b9100") and not c.covers_build("b9187")
    assert c.covers_build("0c1e57098bba43ac") and not c.covers_build("deadbee")


def test_bad_build_is_a_bad_query():
    with pytest.raises(BadQuery):
        parse_build_query("next-tuesday")


def test_rocm_rows_split_at_the_wmma_kernel_change_and_never_pool():
    rows = [{"build": 7938}, {"build": 9186}, {"build": 9187}, {"build": 10273}, {"build": None}]
    old, new = split_by_era(rows, "rocm")
    assert [r["build"] for r in old] == [7938, 9186]
    assert [r["build"] for r in new] == [9187, 10273, None]
    assert kernel_era("rocm", 9186) == 0 and kernel_era("rocm", 9187) == 1
    assert len(split_by_era(rows, "vulkan-radv")) == 1  # no kernel change recorded there


def test_find_calibration_chooses_the_era_covering_the_build(tmp_path):
    old = _cal("hw-test--rocm--20261130T000000Z--era0", "b7938 .. b9186", bw_eff=0.4)
    new = _cal("hw-test--rocm--20261130T000000Z--era1", "b9187 .. b10273", bw_eff=0.6)
    for c in (old, new):
        export_user_calibration(c)
    roots = []
    assert find_calibration(roots, "hw-test", "rocm").id == new.id  # default: the newest era
    assert find_calibration(roots, "hw-test", "rocm", build=8038).id == old.id
    assert find_calibration(roots, "hw-test", "rocm", build="b9500").id == new.id
    # outside every range: the nearest one of the same kernel era
    assert find_calibration(roots, "hw-test", "rocm", build=7000).id == old.id
    assert find_calibration(roots, "hw-test", "rocm", build=12000).id == new.id
    assert find_calibration(roots, "hw-test", "rocm", calibration_id=old.id, build=12000).id == old.id


def test_default_is_the_newest_file_when_not_one_batch(tmp_path):
    a = _cal("hw-test--rocm--20261101T000000Z", "b9187 .. b10273", created="2026-11-01T00:00:00+00:00")
    b = _cal("hw-test--rocm--20261130T000000Z", "b7938 .. b8000", created="2026-11-30T00:00:00+00:00")
    export_user_calibration(a)
    export_user_calibration(b)
    assert find_calibration([], "hw-test", "rocm").id == b.id
    assert find_calibration([], "hw-test", "rocm", build=10000).id == a.id


@pytest.mark.parametrize("backend, build, want", [
    ("rocm", None, "strix-halo-128--rocm--public-2026"),
    ("rocm", 6486, "strix-halo-128--rocm--public-2025"),  # a 2025 toolbox build: its own era's rows
    ("rocm", 7600, "strix-halo-128--rocm--public-2026--era0"),  # nearer the early-2026 rows
    ("vulkan-amdvlk", 6200, "strix-halo-128--vulkan-amdvlk--public-2025"),
    ("vulkan-amdvlk", None, "strix-halo-128--vulkan-amdvlk--public-2026"),
    ("vulkan-radv", 6486, "strix-halo-128--vulkan-radv--public-2026"),  # no 2025 RADV calibration
])
def test_a_2025_build_is_answered_by_the_2025_era_calibration(backend, build, want):
    from vtt.plan import plan_many

    q = {"model": "llama-3.1-8b", "quant": "Q4_K_M", "backend": backend, "context": 1024}
    a = plan_many([{**q, **({"build": build} if build else {})}])[0]
    assert a["calibration"] == want, a["calibration"]


def test_a_spec_root_of_calibrations_only_does_not_stay_in_the_cached_world(tmp_path):
    """The validated World is cached on disk across runs; a run with VTT_SPECS naming a root that holds
    only calibrations must not leave that root in the World a later run without it gets (it did: the
    key named the spec files, not the roots, and the next plain `vtt plan` answered from the extra
    root's calibration)."""
    import os
    import subprocess
    import sys

    extra = tmp_path / "extra"
    (extra / "calibrations" / "strix-halo-128").mkdir(parents=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    code = "from vtt.specs.catalog import default_world; print([str(r) for r in default_world().roots])"
    with_extra = subprocess.run([sys.executable, "-c", code], env={**env, "VTT_SPECS": str(extra)},
                                capture_output=True, text=True, check=True).stdout
    without = subprocess.run([sys.executable, "-c", code], env={k: v for k, v in env.items() if k != "VTT_SPECS"},
                             capture_output=True, text=True, check=True).stdout
    assert str(extra) in with_extra and str(extra) not in without, (with_extra, without)
