"""Batch isolation: one query's failure, whatever it is, is that query's answer only."""

from __future__ import annotations

import json
import subprocess
import sys

import vtt.plan as plan_mod
from vtt.plan import plan_many, printable


def test_ids_are_passed_through_to_answers_and_errors():
    a, b, c = plan_many([{"id": "a1", "model": "gpt-oss-20b", "context": 8192},
                         {"id": 7, "model": "no-such-model-xyz"},
                         {"model": "gpt-oss-20b", "context": 8192}])
    assert a["id"] == "a1" and "error" not in a
    assert b["id"] == 7 and b["error"]["code"] == "unknown_name"
    assert "id" not in c


def test_a_slash_in_a_catalog_name_resolves_instead_of_crashing():
    (a,) = plan_many([{"model": "gpt-oss/20b", "context": 8192}])
    assert "error" not in a and a["model"] == "gpt-oss-20b"


def test_an_unexpected_exception_is_that_lines_error_answer(monkeypatch):
    real = plan_mod._answer_group

    def faulty(rm, hw, be, cal, qs):  # injected fault: a bug on one query only
        if any(q.context == 7777 for q in qs):
            raise ZeroDivisionError("injected")
        return real(rm, hw, be, cal, qs)

    monkeypatch.setattr(plan_mod, "_answer_group", faulty)
    ans = plan_many([{"id": i, "model": "gpt-oss-20b", "context": c} for i, c in enumerate((8192, 7777, 16384))])
    assert [a["id"] for a in ans] == [0, 1, 2]
    assert ans[1]["error"]["code"] == "internal_error" and "ZeroDivisionError" in ans[1]["error"]["message"]
    assert "error" not in ans[0] and "error" not in ans[2] and ans[2]["context"] == 16384


def test_printable_escapes_terminal_control():
    assert printable("evil\x1b[2J\nname") == "evil\\x1b[2J\\nname"
    assert printable("plain") == "plain"


def test_batch_exit_status_is_2_when_a_line_failed(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps({"id": "ok", "model": "gpt-oss-20b"}) + "\n" + json.dumps({"id": "bad", "model": "nope-xyz"}) + "\n")
    r = subprocess.run([sys.executable, "-m", "vtt.cli", "plan", "--batch", str(f), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    ans = [json.loads(x) for x in r.stdout.splitlines()]
    assert [a["id"] for a in ans] == ["ok", "bad"] and "error" in ans[1] and "error" not in ans[0]
    f.write_text(json.dumps({"id": "ok", "model": "gpt-oss-20b"}) + "\n")
    r = subprocess.run([sys.executable, "-m", "vtt.cli", "plan", "--batch", str(f), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0


def test_hostile_batch_lines_are_their_own_errors(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text("[" * 100000 + "\n"
                 + json.dumps({"model": "gpt-oss-20b", "context": 2**63}) + "\n"
                 + '{"model": "gpt-oss-20b", "file_size_gib": 1e999}\n'
                 + json.dumps({"model": "gpt-oss-20b", "parallel": 10**6}) + "\n"
                 + '"just a string"\n'
                 + json.dumps({"id": "last", "model": "gpt-oss-20b"}) + "\n")
    r = subprocess.run([sys.executable, "-m", "vtt.cli", "plan", "--batch", str(f), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    ans = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(ans) == 6 and all("error" in a for a in ans[:5])
    assert ans[5]["id"] == "last" and "error" not in ans[5]
    assert "context" in ans[1]["error"]["message"] and "finite" in ans[2]["error"]["message"]
