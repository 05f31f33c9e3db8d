"""vtt calibrate cannot be used to hurt yourself: a thin fit does not replace the current calibration
unless --force; --use and --remove; labels and ids stay inside the calibration folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtt.cli.app import app
from vtt.errors import VttError

runner = CliRunner()
HEADER = ("source_url,source_date,device,backend,llama_cpp_build,model,arch_family,params_total_b,params_active_b,"
          "quant,file_size_gib,n_prompt,n_gen,n_depth,flash_attn,pp_tps,tg_tps,notes,n_ubatch,backend_detail,"
          "mem_peak_mib").split(",")


def _thin_csv(path: Path, n: int = 8) -> Path:
    """n rows of one model (one family): synthetic measurements, fewer than the declared minimum."""
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, HEADER)
        w.writeheader()
        for i in range(n):
            tg = i % 2 == 1
            w.writerow({"source_url": "https://example.invalid/test", "source_date": "2026-05-01",
                        "device": "Radeon 8060S", "backend": "vulkan-radv", "llama_cpp_build": "b9000 (abc)",
                        "model": "llama-2-7b.Q4_0", "arch_family": "llama", "params_total_b": 6.74,
                        "params_active_b": 6.74, "quant": "Q4_0", "file_size_gib": 3.56,
                        "n_prompt": 0 if tg else 512, "n_gen": 128 if tg else 0, "n_depth": 1024 * (i // 2),
                        "flash_attn": 1, "pp_tps": "" if tg else 1000 - 50 * i, "tg_tps": 45 - i if tg else "",
                        "notes": "", "n_ubatch": "512", "backend_detail": "RADV", "mem_peak_mib": ""})
    return path


def _invoke(args):
    try:
        r = runner.invoke(app, args, catch_exceptions=False)
        return r.exit_code, r.stdout
    except VttError as e:
        return e.exit_code, e.message


def test_a_thin_fit_does_not_replace_the_current_calibration_unless_forced(tmp_path):
    thin = _thin_csv(tmp_path / "thin.csv")
    code, msg = _invoke(["calibrate", "--backend", "vulkan-radv", "--csv", str(thin), "--json"])
    assert code == 2 and "refusing to replace calibration strix-halo-128--vulkan-radv--public-2026" in msg
    assert "8 rows < 30" in msg and "1 model families < 3" in msg
    code, out = _invoke(["calibrate", "--backend", "vulkan-radv", "--csv", str(thin), "--json", "--force"])
    assert code == 0, out
    new_id = json.loads(out)["calibration"]["id"]
    plan = json.loads(runner.invoke(app, ["plan", "llama-2-7b", "-q", "Q4_0", "--backend", "vulkan-radv",
                                          "--json"], catch_exceptions=False).stdout)
    assert plan["calibration"] == new_id
    # --use makes the shipped one current again; --remove deletes ours, never a shipped one
    code, _ = _invoke(["calibrate", "--use", "strix-halo-128--vulkan-radv--public-2026"])
    assert code == 0
    plan = json.loads(runner.invoke(app, ["plan", "llama-2-7b", "-q", "Q4_0", "--backend", "vulkan-radv",
                                          "--json"], catch_exceptions=False).stdout)
    assert plan["calibration"] == "strix-halo-128--vulkan-radv--public-2026"
    code, _ = _invoke(["calibrate", "--remove", new_id])
    assert code == 0 and new_id not in _invoke(["calibrate", "--list"])[1]
    code, _ = _invoke(["calibrate", "--remove", "strix-halo-128--vulkan-radv--public-2026"])
    assert code == 0                                   # the --use copy is yours
    code, msg = _invoke(["calibrate", "--remove", "strix-halo-128--vulkan-radv--public-2026"])
    assert code == 2 and "shipped" in msg              # the shipped file is not


@pytest.mark.parametrize("bad", ["../..", "../../etc/x", "a/b", ".hidden", "x..y", ""])
def test_labels_and_ids_cannot_leave_their_folder(tmp_path, bad):
    thin = _thin_csv(tmp_path / "thin.csv")
    before = set(tmp_path.parent.glob("**/*.yaml"))
    code, msg = _invoke(["calibrate", "--backend", "vulkan-radv", "--csv", str(thin), "--label", bad, "--force"])
    assert code == 2 and "bad label" in msg
    code, msg = _invoke(["calibrate", "--remove", bad])
    assert code == 2
    assert set(tmp_path.parent.glob("**/*.yaml")) == before      # nothing written anywhere
