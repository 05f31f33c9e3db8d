"""`vtt optimize --boxes N | --cluster ID [--link]` through the installed command: JSON keys, per-box budgets,
the table, vtt check of the plan, the export, and exit 2 with one line for bad cluster flags."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

VTT = str(Path(os.sys.executable).parent / "vtt")
# a budget of 40 GiB per box: qwen3-coder-next at 64K (55 GiB) fits only split over two boxes
ARGS = ["optimize", "--boxes", "2", "--link", "usb4-net", "--budget-gib", "40", "--editors", "roo",
        "--models", "qwen3-coder-next,gpt-oss-20b"]


def _vtt(*args, timeout=120):
    return subprocess.run([VTT, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory):
    p = _vtt(*ARGS, "--json")
    assert p.returncode == 0, p.stderr
    f = tmp_path_factory.mktemp("cluster") / "plan.json"
    f.write_text(p.stdout)
    return f


def test_json_plan_says_which_modes_run_split_and_keeps_every_box_in_budget(plan_file):
    plan = json.loads(plan_file.read_text())
    cl = plan["cluster"]
    assert cl["link"] == "usb4-net" and [b["name"] for b in cl["boxes"]] == ["box1", "box2"]
    assert cl["query"] == {"boxes": 2, "link": "usb4-net"}
    split = [a for a in plan["assignments"] if a["split"]]
    assert any(a["model"] == "qwen3-coder-next" for a in split), "qwen3-coder-next fits 40 GiB only split"
    for a in split:
        assert a["split"]["link"] == "usb4-net"
        assert a["tg_tps"] < a["split"]["tg_tps_one_box"]
        assert "runs split over 2 boxes (box1, box2) on usb4-net" in a["why"]
        ms = float(re.search(r"the network adds ([\d.]+) ms per token", a["why"]).group(1))
        assert ms == pytest.approx(a["split"]["network_ms_per_token"], abs=0.006)
    budgets = [b["budget_gib"] for b in cl["boxes"]]
    for s in plan["resident_sets"]:
        assert len(s["box_gib"]) == 2 and all(g <= b + 1e-6 for g, b in zip(s["box_gib"], budgets))


def test_vtt_check_accepts_the_cluster_plan(plan_file):
    p = _vtt("check", str(plan_file), "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(json.loads(p.stdout)["box_budgets_gib"]) == 2


def test_table_shows_the_split_and_the_budget_per_box():
    p = _vtt(*ARGS)
    assert p.returncode == 0, p.stderr
    assert "budget per box box1" in p.stdout and " x2" in p.stdout


def test_llama_swap_export_of_the_cluster_plan(tmp_path):
    out = tmp_path / "ls.yaml"
    p = _vtt(*ARGS, "--export", "llama-swap", "--out", str(out))
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert text.splitlines()[1].startswith("# Models split across boxes") and "ggml-rpc-server -H 0.0.0.0" in text
    cmds = [shlex.split(m["cmd"]) for m in yaml.safe_load(text)["models"].values()]
    assert any(c[c.index("--rpc") + 1] == "BOX2_HOST:50052" for c in cmds if "--rpc" in c)
    assert "start the rpc-server on each other box" in p.stderr


@pytest.mark.parametrize("args,msg", [(["--link", "10gbe"], "--link needs --boxes"),
                                      (["--boxes", "1"], "--boxes must be 2 or more"),
                                      (["--cluster", "no-such"], "unknown cluster 'no-such'"),
                                      (["--boxes", "2", "--link", "carrier-pigeon"], "unknown link 'carrier-pigeon'")])
def test_bad_cluster_flags_exit_2_with_one_line(args, msg):
    p = _vtt("optimize", "--editors", "roo", "--models", "gpt-oss-20b", *args)
    assert p.returncode == 2, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert msg in lines[0] and "Traceback" not in p.stderr
