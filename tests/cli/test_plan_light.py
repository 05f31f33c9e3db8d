"""`vtt plan` from the cached World without pydantic's models (vtt.lightweight): the same answers,
errors and exit codes as the full path, and the full path whenever the stand-ins are unsure."""

import json
import os
import subprocess
import sys

import pytest

from vtt import lightweight

LINES = [
    ["glm-4.7-flash", "--quant", "Q8_0", "--context", "65536", "--json"],
    ["glm-4.7-flash", "--quant", "Q8_0", "--context", "65536"],  # the human table
    ["gpt-oss-120b", "-c", "131072", "-d", "32768", "--json"],
    ["qwen3-30b-a3b", "-q", "Q4_K_M", "-c", "32768", "--backend", "vulkan-amdvlk", "--build", "6000", "--json"],
    ["GLM-4.7-Flash-Q8", "-c", "65536", "--sweep", "depth", "--json"],
    ["gemma-3-27b", "-q", "Q4_K_M", "-c", "65536", "--kv-type", "q8_0", "--units", "GB", "--json"],
    ["gpt-oss-20b", "--backend", "cpu", "-np", "4", "--kv-unified", "--json"],
    ["qwen3-next-80b-a3b", "-q", "Q4_K_M", "--request", "--prompt-tokens", "2000", "--output-tokens", "500", "--json"],
    ["deepseek-v3", "-q", "Q4_K_M", "--mla-kv-full", "--file-size-gib", "380.5", "--json"],
    ["minimax-m2", "-q", "Q8_0", "--boxes", "2", "--link", "usb4-net", "--tensor-split", "1.2,0.8", "--json"],
    ["llama-3.1-8b", "-q", "Q4_0", "--cluster", "h200-vulkan-x2-onegpu", "-c", "8192", "-d", "4096", "--json"],
    # errors: the stand-ins refuse, pydantic answers
    ["gpt-oss-120b", "--boxes", "2", "--tensor-split", "1,2,3", "--json"],
    ["gpt-oss-20b", "-c", "100", "-p", "512", "--json"],
    ["gpt-oss-20b", "-c", "0", "--json"],
    ["gpt-oss-20b", "-c", "99999999999999999999", "--json"],
    ["gemma-3-27b", "--kv-type", "q4_0", "--no-flash-attn", "--json"],
    ["no-such-model", "--json"],
]

PROBE = """
import io, contextlib, sys
sys.argv = ["vtt", "plan"] + sys.argv[1:]
import vtt.cli.app as a
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        a.main()
except SystemExit:
    pass
print("pydantic models" if "pydantic.main" in sys.modules else "stand-ins")
"""


def _vtt(args, **env):
    e = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "vtt.cli", "plan", *args], capture_output=True, text=True,
                          timeout=120, env=e)


def _path(args, **env) -> str:
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                       env={**os.environ, **env})
    return r.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("line", LINES, ids=lambda x: " ".join(x[:3]))
def test_same_output_and_exit_code_as_the_full_path(line):
    light, full = _vtt(line), _vtt(line, VTT_PLAN_LIGHT="0")
    assert (light.returncode, light.stdout, light.stderr) == (full.returncode, full.stdout, full.stderr)


def test_a_catalog_query_skips_pydantic_models_and_an_error_does_not():
    _vtt(LINES[0])  # the World is cached
    assert _path(LINES[0]) == "stand-ins"
    assert _path(["gpt-oss-20b", "-c", "0", "--json"]) == "pydantic models"
    assert _path(LINES[0], VTT_PLAN_LIGHT="0") == "pydantic models"


def test_a_cold_cache_is_built_by_the_full_path(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = _vtt(LINES[0], **env)
    assert first.returncode == 0 and first.stdout == _vtt(LINES[0], VTT_PLAN_LIGHT="0").stdout
    assert any((tmp_path / "cache" / "vtt" / "parsed").glob("world-*.pickle"))
    assert _path(LINES[0], **env) == "stand-ins"  # the next run reads what the full path cached


class _Query(lightweight.LightModel):
    model_config = lightweight.ConfigDict(extra="forbid")
    n: int = lightweight.Field(default=1, gt=0, le=10)
    name: str | None = None
    units: str = "GiB"

    @lightweight.field_validator("units", mode="before")
    @classmethod
    def _units(cls, v):
        return v.upper()

    @lightweight.model_validator(mode="after")
    def _check(self):
        if self.name == "bad":
            raise ValueError("bad name")
        return self


def test_stand_ins_take_plain_input_and_refuse_the_rest():
    q = _Query.model_validate({"n": 3, "units": "gib"})
    assert (q.n, q.name, q.units) == (3, None, "GIB")
    assert q.model_dump(exclude_unset=True) == {"n": 3, "units": "GIB"}
    assert q.model_copy(update={"n": 4}).n == 4 and q.n == 3
    for raw in ({"n": 0}, {"n": 11}, {"n": "3"}, {"n": True}, {"n": 2.0}, {"extra": 1}, {"name": "bad"}, {"name": 5}):
        with pytest.raises((lightweight.NeedFull, ValueError)):
            _Query.model_validate(raw)


def test_what_the_stand_ins_do_not_check_goes_to_pydantic():
    class Named(lightweight.LightModel):
        code: str = lightweight.Field(pattern=r"^[a-z]+$")

    class Before(lightweight.LightModel):
        n: int = 1

        @lightweight.model_validator(mode="before")
        def _fill(cls, data):
            return data

    for model, raw in ((Named, {"code": "abc"}), (Before, {"n": 2})):
        with pytest.raises(lightweight.NeedFull):
            model.model_validate(raw)


def test_an_answer_keeps_extras_in_their_order():
    class Answer(lightweight.LightModel):
        model_config = lightweight.ConfigDict(extra="allow")
        a: float
        b: list[float] | None = None

    ans = Answer.model_validate({"z": 1, "a": 2, "y": [3]})
    assert json.dumps(ans.model_dump(exclude_unset=True)) == '{"a": 2.0, "z": 1, "y": [3]}'
