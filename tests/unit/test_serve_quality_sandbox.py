"""The quality sandbox: correct code passes, wrong code fails, runaway code is stopped by its limits."""

from __future__ import annotations

import time

from vtt.harness.serve_quality import extract_code, load_suite, run_sandboxed, score_task, self_check


def test_suite_reference_answers_pass_their_own_tests():
    suite = load_suite("coding")
    assert suite.version >= 1 and len(suite.tasks) >= 5
    assert self_check(suite) == []


def test_wrong_answers_fail_and_bug_answers_are_matched_by_line():
    suite = load_suite("coding")
    fizz = next(t for t in suite.tasks if t.id == "fizzbuzz")
    assert not score_task(fizz, "def fizzbuzz(n):\n    return str(n)\n")["passed"]
    assert score_task(fizz, "Here:\n```python\n" + fizz.reference + "```\nDone.")["passed"]
    bug = next(t for t in suite.tasks if t.id == "off-by-one")
    assert score_task(bug, "Line 4.")["passed"] and not score_task(bug, "3")["passed"]
    assert not score_task(bug, "no idea")["passed"]


def test_infinite_loop_is_stopped_by_the_cpu_limit():
    t0 = time.monotonic()
    r = run_sandboxed("while True:\n    pass\n", cpu_s=1, wall_s=10)
    assert not r["passed"] and "CPU" in r["reason"] and time.monotonic() - t0 < 8


def test_sleeping_code_is_stopped_by_the_wall_clock():
    r = run_sandboxed("import time\ntime.sleep(60)\n", wall_s=1)
    assert not r["passed"] and "wall time" in r["reason"]


def test_memory_hog_hits_the_memory_limit():
    r = run_sandboxed("x = bytearray(2 * 1024 ** 3)\n", memory_bytes=256 * 1024 ** 2)
    assert not r["passed"] and r["reason"] == "memory limit"


def test_code_is_extracted_from_fences():
    assert extract_code("text\n```python\na = 1\n```\nmore\n```\nb = 2\n```") == "a = 1\n\nb = 2\n"
