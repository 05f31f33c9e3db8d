"""`vtt plan` honours its contract: keys, batch order, errors as one line with an exit code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from vtt.cli.app import app

CONTRACT_KEYS = (
    "model quant hardware backend context depth n_prompt n_gen weights_gib kv_cache_gib compute_buffer_gib "
    "total_gib budget_gib fits pp_tps tg_tps ttft_s pp_tps_interval tg_tps_interval calibration"
).split()
runner = CliRunner()


def _run(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _vtt(*args, stdin=None):
    """The installed console script, so main()'s error handling is what users see."""
    return subprocess.run([sys.executable, "-m", "vtt.cli", *args], capture_output=True, text=True, input=stdin, timeout=60)


def test_plan_json_has_every_contract_key():
    r = _run("plan", "glm-4.7-flash", "--quant", "Q8_0", "--context", "65536", "--json")
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)
    assert set(CONTRACT_KEYS) <= set(a)
    assert a["model"] == "glm-4.7-flash" and a["quant"] == "Q8_0" and a["fits"] is True
    assert a["total_gib"] == pytest.approx(a["weights_gib"] + a["kv_cache_gib"] + a["compute_buffer_gib"] + a["overhead_gib"], abs=0.01)
    lo, hi = a["tg_tps_interval"]
    assert lo < a["tg_tps"] < hi


def test_plan_table_by_default():
    r = _run("plan", "GLM-4.7-Flash-Q8", "-c", "65536")
    assert r.exit_code == 0
    assert "glm-4.7-flash" in r.stdout and "tg t/s" in r.stdout


def test_batch_answers_in_order_and_keeps_going_after_a_bad_line(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text(
        json.dumps({"model": "gpt-oss-20b", "context": 8192}) + "\n"
        + "{not json\n"
        + json.dumps({"model": "no-such-model-xyz", "context": 8192}) + "\n"
        + json.dumps({"model": "gpt-oss-20b", "context": -1}) + "\n"
        + json.dumps({"model": "qwen3-30b-a3b", "quant": "Q4_K_M", "context": 32768, "depth": 16384}) + "\n"
    )
    r = _run("plan", "--batch", str(f), "--json")
    assert r.exit_code == 2  # some lines failed
    answers = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(answers) == 5
    assert answers[0]["model"] == "gpt-oss-20b" and "error" not in answers[0]
    assert "error" in answers[1] and "line 2" in answers[1]["error"]["message"]
    assert "unknown model" in answers[2]["error"]["message"]
    assert "context" in answers[3]["error"]["message"]
    assert answers[4]["model"] == "qwen3-30b-a3b" and answers[4]["depth"] == 16384


def test_batch_equals_single_answers(tmp_path):
    q = {"model": "gpt-oss-120b", "context": 65536, "depth": 4096, "n_prompt": 512, "n_gen": 128}
    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps(q) + "\n")
    batch = json.loads(_run("plan", "--batch", str(f)).stdout)
    single = json.loads(_run("plan", "gpt-oss-120b", "-c", "65536", "-d", "4096", "--json").stdout)
    assert batch == single


def test_sweep_depth_gives_a_falling_curve():
    r = _run("plan", "llama-2-7b", "-q", "Q4_0", "-c", "32768", "--sweep", "depth", "--json")
    tg = [json.loads(x)["tg_tps"] for x in r.stdout.splitlines()]
    assert len(tg) >= 4 and tg == sorted(tg, reverse=True)


def test_sweep_context_grows_kv():
    r = _run("plan", "gpt-oss-20b", "--sweep", "context", "--json")
    kv = [json.loads(x)["kv_cache_gib"] for x in r.stdout.splitlines()]
    assert kv == sorted(kv) and len(kv) >= 5


@pytest.mark.parametrize(
    "args, needle",
    [
        (["plan", "no-such-model-xyz", "--context", "4096"], "unknown model 'no-such-model-xyz'"),
        (["plan", "gpt-oss-20b", "--quant", "Q9_Z"], "unknown quant 'Q9_Z'"),
        (["plan", "gpt-oss-20b", "--context", "-5"], "context"),
        (["plan", "gpt-oss-20b", "--context", "4096", "--depth", "8192"], "exceeds context"),
        (["plan", "/nonexistent/x.gguf"], "no such file"),
        (["plan", "gpt-oss-20b", "--no-flash-attn", "--kv-type", "q8_0"], "needs flash attention"),
    ],
)
def test_bad_input_is_one_clear_line_exit_2(args, needle):
    r = _vtt(*args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("vtt: error: ") and needle in r.stderr


def test_json_errors_are_json():
    r = _vtt("plan", "no-such-model-xyz", "--json")
    assert r.returncode == 2
    assert json.loads(r.stdout)["error"]["code"] == "unknown_name"


def test_plan_path_imports_no_heavy_modules():
    code = (
        "import sys; sys.argv=['vtt','plan','glm-4.7-flash','-c','65536','--json'];"
        "from vtt.cli.app import main\n"
        "try: main()\nexcept SystemExit: pass\n"
        "bad=[m for m in ('scipy','duckdb','rich','matplotlib','gguf') if m in sys.modules];"
        "print('HEAVY', bad, file=sys.stderr); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_mla_caches_k_only_by_default_and_kv_full_is_a_flag():
    """The pinned llama.cpp (since PR #19067) caches only the 576-wide latent K for GLM-4.7-Flash:
    47 layers x 576 x 2 bytes per token; --mla-kv-full is the older K+V layout, with a warning."""
    new = json.loads(_run("plan", "glm-4.7-flash", "-q", "Q8_0", "-c", "65536", "--json").stdout)
    old = json.loads(_run("plan", "glm-4.7-flash", "-q", "Q8_0", "-c", "65536", "--mla-kv-full", "--json").stdout)
    assert new["kv_cache_bytes"] == 47 * 576 * 2 * 65536
    assert new["mla_v_less"] is True and new["mla_kv_full"] is False
    assert not any("19067" in w for w in new["warnings"])
    assert old["kv_cache_bytes"] > 1.8 * new["kv_cache_bytes"] and old["mla_kv_full"] is True
    assert any("before PR #19067" in w for w in old["warnings"])


@pytest.mark.parametrize("args, null, kept", [
    (["-p", "0"], ("pp_tps", "pp_tps_interval", "ttft_s", "ttft_s_interval"), ("tg_tps", "tg_tps_interval")),
    (["-n", "0"], ("tg_tps", "tg_tps_interval"), ("pp_tps", "pp_tps_interval", "ttft_s")),
])
def test_zero_prompt_or_gen_is_a_test_not_run_as_in_llama_bench(args, null, kept):
    r = _run("plan", "gpt-oss-20b", "-c", "8192", *args, "--json")
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)
    assert all(a[k] is None for k in null), {k: a[k] for k in null}
    assert all(a[k] is not None for k in kept)
    assert a["kv_cache_gib"] > 0


def test_request_flags_answer_ttft_gen_and_end_to_end():
    r = _run("plan", "glm-4.7-flash", "--request", "--cached-tokens", "24576", "--prompt-tokens", "1024",
             "--output-tokens", "512", "--json")
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)
    assert (a["cached_tokens"], a["prompt_tokens"], a["output_tokens"]) == (24576, 1024, 512)
    assert a["context"] >= 24576 + 1024 + 512 and a["depth"] == 24576
    assert a["e2e_s"] == pytest.approx(a["ttft_s"] + a["gen_s"], abs=1e-3)
    for k in ("ttft_s", "gen_s", "e2e_s"):
        lo, hi = a[f"{k}_interval"]
        assert lo < a[k] < hi


def test_mode_preset_and_catalog_modes_agree():
    shapes = {json.loads(x)["mode"]: json.loads(x) for x in _run("catalog", "modes", "--json").stdout.splitlines()}
    assert "roo/ask" in shapes and "claude-code/edit" in shapes
    a = json.loads(_run("plan", "gpt-oss-20b", "--mode", "claude-code/edit", "--json").stdout)
    s = shapes["claude-code/edit"]
    assert (a["cached_tokens"], a["prompt_tokens"], a["output_tokens"]) == (s["cached_tokens"], s["prompt_tokens"], s["output_tokens"])
    r = _vtt("plan", "gpt-oss-20b", "--mode", "roo/nope")
    assert r.returncode == 2 and "unknown mode 'roo/nope'" in r.stderr


def test_units_gb_adds_gb_keys_and_keeps_the_gib_contract():
    gib = json.loads(_run("plan", "gpt-oss-20b", "-c", "32768", "--json").stdout)
    gb = json.loads(_run("plan", "gpt-oss-20b", "-c", "32768", "--units", "GB", "--json").stdout)
    assert not any(k.endswith("_gb") for k in gib)
    for k in ("weights", "kv_cache", "compute_buffer", "total", "budget"):
        assert gb[f"{k}_gib"] == gib[f"{k}_gib"]
        assert gb[f"{k}_gb"] == pytest.approx(gib[f"{k}_gib"] * 2**30 / 1e9, rel=1e-3)
    table = _run("plan", "gpt-oss-20b", "--units", "GB").stdout
    assert "total GB" in table and "GiB" not in table.splitlines()[0]
    assert _vtt("plan", "gpt-oss-20b", "--units", "MB").returncode == 2


def test_build_is_echoed():
    a = json.loads(_run("plan", "gpt-oss-20b", "--build", "7938", "--json").stdout)
    b = json.loads(_run("plan", "gpt-oss-20b", "--json").stdout)
    assert a["build"] == 7938 and b["build"] is None


def test_explain_says_where_the_time_goes():
    """The JSON's time_terms are the point prediction by named term: they add up to the answer
    (llama-bench -p 512 -d 32768 at 74 t/s is 6.9 s, 91 % of it MLA attention on RADV)."""
    assert "time_terms" not in json.loads(_run("plan", "glm-4.7-flash", "--json").stdout)  # only when asked
    r = _run("plan", "glm-4.7-flash", "--quant", "Q8_0", "-c", "65536", "-d", "32768", "--json", "--explain")
    a = json.loads(r.stdout)
    pp, tg = a["time_terms"]["pp_s"], a["time_terms"]["tg_ms_per_token"]
    assert a["n_prompt"] / sum(pp.values()) == pytest.approx(a["pp_tps"], rel=0.01)
    assert 1000 / sum(tg.values()) == pytest.approx(a["tg_tps"], rel=0.01)
    assert max(pp, key=pp.get) == "attention" and {"weights", "kv_cache", "layer_dispatch"} <= set(tg)
    r = _run("plan", "glm-4.7-flash", "--quant", "Q8_0", "-c", "65536", "-d", "32768", "--explain")
    lines = [x for x in r.stdout.splitlines() if x.startswith("  prompt (") or x.startswith("  a generated token")]
    assert len(lines) == 2 and "attention 9" in lines[0], r.stdout
    shares = [int(p.rsplit(" ", 2)[-2]) for p in lines[1].split("= ")[1].split(", ")]
    assert 97 <= sum(shares) <= 101  # rounded shares; terms under 0.5 % left out
    none = json.loads(_run("plan", "glm-4.7-flash", "-n", "0", "--json", "--explain").stdout)["time_terms"]
    assert none["tg_ms_per_token"] is None and none["pp_s"]
