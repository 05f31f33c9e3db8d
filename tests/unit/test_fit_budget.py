"""vtt fit (pure search over the cost model) and the machine budget read from sysfs."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from vtt.cli.app import app
from vtt.fit import CTX_STEP, largest_context
from vtt.budget import gpu_budget_bytes, read_gtt_limits, resolve_budget
from vtt.specs.catalog import default_world
from vtt.units import GIB


@given(base=st.floats(0.5, 100), per_tok=st.floats(1e-6, 1e-3), budget=st.floats(0.1, 200),
       n_ctx=st.integers(1, 300_000))
def test_largest_context_fits_and_one_step_more_does_not(base, per_tok, budget, n_ctx):
    def mem(c):
        return [base + per_tok * x for x in c]

    ctx, gib = largest_context(mem, n_ctx, budget)
    if ctx == 0:
        assert mem([min(CTX_STEP, n_ctx)])[0] > budget
        return
    assert gib <= budget + 1e-9 and ctx <= max(n_ctx, CTX_STEP)
    if ctx < n_ctx:
        assert mem([ctx + CTX_STEP])[0] > budget or ctx + CTX_STEP > n_ctx


def test_fit_context_agrees_with_vtt_plan_at_the_edge():
    from vtt.fit import fit_context
    from vtt.optimize.price import Pricer
    from vtt.plan import plan_many, resolve_model

    w = default_world()
    rm = resolve_model(w, "glm-4.7-flash", "Q8_0", None)
    ans = fit_context(Pricer(w, "strix-halo-128"), rm, 40.0, "f16")
    assert ans["fits"] and ans["limited_by"] == "budget"
    at, over = plan_many([{"model": "glm-4.7-flash", "quant": "Q8_0", "context": c, "hardware": "strix-halo-128"}
                          for c in (ans["context"], ans["context"] + CTX_STEP)], w)
    assert at["total_gib"] <= 40.0 + 1e-3 < over["total_gib"]


def _sysfs(tmp_path, gtt_bytes, pages):
    (tmp_path / "module/ttm/parameters").mkdir(parents=True)
    (tmp_path / "module/ttm/parameters/pages_limit").write_text(f"{pages}\n")
    (tmp_path / "module/amdgpu/parameters").mkdir(parents=True)
    (tmp_path / "module/amdgpu/parameters/gttsize").write_text("126976\n")
    card = tmp_path / "class/drm/card1/device"
    card.mkdir(parents=True)
    (card / "mem_info_gtt_total").write_text(f"{gtt_bytes}\n")
    (card / "mem_info_vram_total").write_text(f"{512 * 1024 * 1024}\n")
    return tmp_path


def test_machine_budget_is_the_gtt_capped_by_the_ttm_limit(tmp_path):
    root = _sysfs(tmp_path, 126976 * 1024 * 1024, 25 * GIB // 4096)
    lim = read_gtt_limits(root)
    assert lim["amdgpu_gttsize_bytes"] == 126976 * 1024 * 1024
    assert gpu_budget_bytes(lim) == 25 * GIB                  # the TTM limit binds
    hw = default_world().get_hardware("strix-halo-128")
    gib, src = resolve_budget(hw, None, sys_root=root, installed_gib=125.0)
    assert gib == pytest.approx(25.0) and "sysfs" in src
    gib, src = resolve_budget(hw, None, sys_root=root, installed_gib=24.0)   # not this hardware: the spec
    assert gib == hw.gpu_addressable_gib and "spec" in src
    assert resolve_budget(hw, 64.0, sys_root=root)[0] == 64.0


def test_missing_sysfs_is_no_limit_not_a_crash(tmp_path):
    assert read_gtt_limits(tmp_path) == {} and gpu_budget_bytes({}) is None


def test_vtt_fit_cli_answers_context_best_quant_and_catalog():
    r = CliRunner().invoke(app, ["fit", "glm-4.7-flash", "--quant", "Q8_0", "--budget-gib", "48", "--json"],
                           catch_exceptions=False)
    a = json.loads(r.stdout)
    assert a["fits"] and a["budget_gib"] == pytest.approx(46.0) and a["budget_source"] == "--budget-gib"
    r = CliRunner().invoke(app, ["fit", "qwen3-next-80b-a3b", "--best-quant", "-c", "65536", "--budget-gib", "64",
                                 "--json"], catch_exceptions=False)
    b = json.loads(r.stdout)
    assert b["best"]["fits"] and all(not q["fits"] for q in b["quants"] if q["quality_kept"] > b["best"]["quality_kept"])
    r = CliRunner().invoke(app, ["fit", "--catalog", "--request-tokens", "150000", "--json"], catch_exceptions=False)
    rows = [m for m in json.loads(r.stdout)["models"] if m["fits"]]
    assert rows and [m["e2e_s"] for m in rows] == sorted(m["e2e_s"] for m in rows)
    assert all(m["e2e_s"] == pytest.approx(m["ttft_s"] + m["gen_s"], abs=2e-3) for m in rows)
