"""Code-quality probes (seed test 6): a small versioned suite of coding tasks against any
OpenAI-compatible endpoint (a llama-server vtt starts, or a URL the user gives).

Function completion is checked by running the answer's code and the task's tests in a sandboxed
subprocess: its own process group (killed on every path, proc.ChildProcess), CPU-time, address-space
and file-size limits (resource.setrlimit), a wall-clock timeout, an empty working folder, isolated
Python (-I). It is not a security boundary (no network or filesystem namespace): run suites you trust.
Bug identification compares the first integer in the answer with the known line.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from vtt.errors import BadQuery
from vtt.harness.proc import ChildProcess
from vtt.specs.base import Spec

SANDBOX_CPU_S = 5
SANDBOX_WALL_S = 10.0
SANDBOX_MEMORY_BYTES = 512 * 1024 * 1024
SANDBOX_FILE_BYTES = 1024 * 1024


class QualityTask(Spec):
    id: str
    kind: Literal["complete", "bug"]
    prompt: str
    tests: str | None = None
    reference: str | None = None
    answer: int | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.kind == "complete" and not self.tests:
            raise ValueError(f"task {self.id}: a completion task needs tests")
        if self.kind == "bug" and self.answer is None:
            raise ValueError(f"task {self.id}: a bug task needs the answer line")
        return self


class QualitySuite(Spec):
    id: str
    version: int = Field(ge=1)
    name: str
    tasks: list[QualityTask]


def load_suite(name_or_file: str | Path) -> QualitySuite:
    from vtt.specs.catalog import spec_roots
    from vtt.specs.yamlfile import read_yaml, validate

    path = Path(str(name_or_file)).expanduser()
    if not path.is_file():
        found = [r / "bench" / "quality" / f"{name_or_file}.yaml" for r in spec_roots()]
        path = next((p for p in found if p.is_file()), None)
        if path is None:
            raise BadQuery(f"unknown quality suite '{name_or_file}'", hint="built-in: coding; or give a YAML file")
    doc = read_yaml(path)
    return validate(QualitySuite, doc.data, doc)


# --- checking answers ----------------------------------------------------------------------------

_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.S)


def extract_code(answer: str) -> str:
    """The fenced code blocks of an answer, or the whole answer when it has none."""
    blocks = _FENCE.findall(answer)
    return "\n".join(blocks) if blocks else answer


def run_sandboxed(code: str, *, cpu_s: int = SANDBOX_CPU_S, wall_s: float = SANDBOX_WALL_S,
                  memory_bytes: int = SANDBOX_MEMORY_BYTES) -> dict:
    """Run `code` with isolated Python in an empty folder under limits; {passed, reason, seconds}."""
    limits = {resource.RLIMIT_CPU: (cpu_s, cpu_s + 1), resource.RLIMIT_AS: (memory_bytes, memory_bytes),
              resource.RLIMIT_FSIZE: (SANDBOX_FILE_BYTES, SANDBOX_FILE_BYTES), resource.RLIMIT_CORE: (0, 0)}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vtt-sandbox-") as d:
        script = Path(d) / "task.py"
        script.write_text(code)
        with ChildProcess([sys.executable, "-I", "-S", str(script)], grace_s=1.0, handle_sigterm=False, cwd=d,
                          rlimits=limits, env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as child:
            try:
                _, err = child.proc.communicate(timeout=wall_s)
                code_ = child.proc.returncode
            except subprocess.TimeoutExpired:
                return {"passed": False, "reason": f"wall time over {wall_s:g} s", "seconds": time.monotonic() - t0}
    secs = time.monotonic() - t0
    if code_ == 0:
        return {"passed": True, "reason": "tests passed", "seconds": secs}
    tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
    if code_ < 0:
        reason = {-9: "killed (CPU time limit)", -24: "CPU time limit"}.get(code_, f"signal {-code_}")
    elif "MemoryError" in tail[0]:
        reason = "memory limit"
    else:
        reason = tail[0][:200] or f"exit {code_}"
    return {"passed": False, "reason": reason, "seconds": secs}


def score_task(task: QualityTask, answer: str) -> dict:
    if task.kind == "bug":
        m = re.search(r"\d+", answer)
        got = int(m.group()) if m else None
        return {"passed": got == task.answer, "reason": f"answered {got}, expected {task.answer}"}
    return run_sandboxed(extract_code(answer) + "\n\n" + task.tests)


def self_check(suite: QualitySuite) -> list[str]:
    """Problems with the suite itself: a reference answer that fails its own tests."""
    bad = []
    for t in suite.tasks:
        if t.kind == "complete" and t.reference:
            r = run_sandboxed(t.reference + "\n\n" + t.tests)
            if not r["passed"]:
                bad.append(f"{t.id}: reference fails: {r['reason']}")
    return bad


# --- a run -----------------------------------------------------------------------------------------

def run_quality(suite: QualitySuite, *, label: str, db=None, model: str | Path | None = None, url: str | None = None,
                served_model: str | None = None, runtime=None, max_tokens: int = 256, llama_server=None,
                extra_args=None, request_timeout_s: float = 300.0, on_task=None) -> dict:
    from vtt import store
    from vtt.harness.serve import LlamaServer, find_llama_server, open_serve_run
    from vtt.harness.serve_http import Client, HttpFailure
    from vtt.store import serve_records

    if (model is None) == (url is None):
        raise BadQuery("give a model file (-m) or an endpoint (--url), one of them")
    if model is not None:
        from vtt.harness.serve import require_model

        model = require_model(model)
    problems = self_check(suite)
    if problems:
        raise BadQuery(f"quality suite {suite.id} v{suite.version} is broken: {problems[0]}")
    quant = None
    model_name = served_model or (Path(model).name if model else url)
    if model is not None:
        from vtt.plan import plan_many

        answer = plan_many([{"model": str(model)}])[0]
        quant = answer.get("quant")
    binary = str(find_llama_server(llama_server)) if model is not None else "(external endpoint)"
    run_id, db_path, _ = open_serve_run(db, label, resume=False, kind="quality", server_binary=binary,
                                        params={"suite": suite.id, "suite_version": suite.version, "model": model_name,
                                                "quant": quant, "url": url, "max_tokens": max_tokens})
    results = []
    status = "ok"
    server = None
    try:
        if model is not None:
            from vtt.harness.serve import load_runtime

            server = LlamaServer(binary, model, runtime or load_runtime(None), 4096, extra_args=extra_args,
                                 request_timeout_s=request_timeout_s)
            server.__enter__()
            client = server.client
        else:
            client = Client(url, timeout_s=request_timeout_s)
        extra = {"model": served_model} if served_model else {}
        for task in suite.tasks:
            t0 = time.monotonic()
            try:
                res = client.chat_stream([{"role": "user", "content": task.prompt}], max_tokens, extra=extra)
                text, err = res.text, None
            except HttpFailure as e:
                text, err, res = "", str(e), None
            verdict = score_task(task, text) if err is None else {"passed": False, "reason": err}
            row = {"task": task.id, "kind": task.kind, **verdict, "answer": text[:2000],
                   "seconds": round(time.monotonic() - t0, 3)}
            results.append(row)
            with store.open_store(db_path) as s:
                serve_records.add_request(s, run_id, {
                    "request_key": task.id, "workload": f"{suite.id}-v{suite.version}", "request": task.id,
                    "status": "ok" if err is None else "failed", "error": err,
                    "output_tokens": (res.usage or {}).get("completion_tokens") if res else None,
                    "ttft_s": res.ttft_s if res else None, "e2e_s": res.e2e_s if res else None,
                    "timings": res.timings if res else None,
                    "extra": {"passed": verdict["passed"], "reason": verdict["reason"], "answer": text[:2000]}})
            if on_task:
                on_task(row)
        if model is None:
            client.close()
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        if server is not None:
            server.stop()
    passed = sum(r["passed"] for r in results)
    by_kind = {k: {"passed": sum(r["passed"] for r in results if r["kind"] == k),
                   "total": sum(r["kind"] == k for r in results)} for k in ("complete", "bug")}
    summary = {"suite": suite.id, "suite_version": suite.version, "model": model_name, "quant": quant,
               "score": passed / len(suite.tasks) if results else None, "passed": passed, "total": len(suite.tasks),
               "by_kind": by_kind, "max_tokens": max_tokens, "endpoint": url or "llama-server started by vtt"}
    with store.open_store(db_path) as s:
        serve_records.add_summary(s, run_id, "quality", status, summary)
        store.set_run_status(s, run_id, status)
    return {"run_id": run_id, "label": label, "status": status, "db": db_path, "quality": summary, "tasks": results}
