"""Shared test setup: hypothesis profiles and an isolated user data/cache directory."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def isolated_user_data(tmp_path_factory, monkeypatch):
    """Calibrations and databases written by a test land in a temporary data dir, never in ~.

    The llama-bench build cache (XDG_CACHE_HOME) is left alone on purpose: it is shared so the
    expensive build happens once per machine.
    """
    data = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.delenv("VTT_SPECS", raising=False)
    yield


@pytest.fixture(scope="session")
def llama_bench() -> str:
    """The real CPU llama-bench, built from the pinned sdist or reused by `vtt bench install`.

    Cached under ~/.cache/vtt; on a fresh CI machine the first test that asks builds it (~6 min on
    2 cores). Never skipped: a unit test that needs it (tests/unit/test_gguf_write.py) ran as 10
    skips on a fresh machine while it only looked for a binary that the e2e tests built later."""
    from vtt.harness.locate import install_llama_bench

    return install_llama_bench("cpu")["llama_bench"]
