"""Concurrent load (seed test 9): the same requests on a quiet machine, then while a declared
background load runs (harness/serve_background.py), with `parallel` clients over `-np` slots.

The slowdown (loaded median / quiet median - 1, for decode t/s and TTFT) and the background job's
peak RSS are stored as a `load` summary: measured numbers the optimizer's `other_work` policy can
read (`serve_records.summaries(kind="load")`) instead of a constant.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from vtt.errors import BadQuery
from vtt.harness.proc import ChildProcess, group_pids
from vtt.harness.serve import (LlamaServer, MemorySampler, Prompts, contract_row, find_llama_server, open_serve_run,
                               require_model, send_request, update_run_params)

BACKGROUNDS = ("compile", "membw")
MIB = 1024 * 1024


def _group_rss(pgid: int) -> int:
    total = 0
    for pid in group_pids(pgid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
    return total


def _phase(server, prompts, workload, phase: str, parallel: int, sampler, timeout_s, db_path, run_id,
           on_request) -> list[dict]:
    from vtt import store
    from vtt.store import serve_records

    jobs = [(f"{k}/{phase}", r) for k, r, _ in workload.expanded()]
    lock = threading.Lock()
    rows: list[dict] = []

    def one(job):
        key, req = job
        row = send_request(server, prompts, req, key, sampler, timeout_s=timeout_s, salt=phase)
        row.update(workload=workload.id, n_ctx=server.n_ctx)
        row["extra"] = {**row["extra"], "phase": phase, "parallel": parallel}
        with lock:
            with store.open_store(db_path) as s:
                serve_records.add_request(s, run_id, row)
            rows.append(row)
            if on_request:
                on_request(contract_row(workload.id, row) | {"phase": phase})
        return row

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, jobs))
    return rows


def _median(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get("status") == "ok" and r.get(key)]
    return statistics.median(vals) if vals else None


def run_load(model: str | Path, workload, *, runtime, background: str, parallel: int = 1, label: str | None = None,
             db=None, workers: int | None = None, bg_mib: int = 256, llama_server=None, extra_args=None,
             start_timeout_s: float = 300.0, request_timeout_s: float = 600.0, on_request=None) -> dict:
    from vtt import store
    from vtt.store import serve_records

    if background not in BACKGROUNDS:
        raise BadQuery(f"unknown background load '{background}' (one of {', '.join(BACKGROUNDS)})")
    import os

    model = require_model(model)
    workers = workers or os.cpu_count() or 1
    runtime = runtime.model_copy(update={"parallel": parallel})
    binary = str(find_llama_server(llama_server))
    label = label or datetime.now().strftime("serve-load-%Y%m%d-%H%M%S")
    n_ctx = workload.n_ctx or workload.context_needed()
    run_id, db_path, _ = open_serve_run(db, label, resume=False, kind="load", server_binary=binary,
                                        params={"workload": workload.id, "model": str(model), "runtime": runtime.id,
                                                "parallel": parallel, "background": background, "workers": workers,
                                                "bg_mib": bg_mib, "n_ctx": n_ctx})
    status = "ok"
    result: dict = {}
    try:
        with LlamaServer(binary, model, runtime, n_ctx, extra_args=extra_args, start_timeout_s=start_timeout_s,
                         request_timeout_s=request_timeout_s) as server:
            update_run_params(db_path, run_id, {"server_argv": server.argv})
            sampler = MemorySampler(server)
            sampler.start()
            prompts = Prompts(server, workload)
            # warm-up pass (stored, left out of the medians): fills the prompt cache, so the quiet and the
            # loaded pass both find their system prefixes cached
            _phase(server, prompts, workload, "warmup", parallel, sampler, request_timeout_s, db_path, run_id,
                   on_request)
            quiet = _phase(server, prompts, workload, "quiet", parallel, sampler, request_timeout_s, db_path, run_id,
                           on_request)
            quiet_s = max(1.0, sum(r.get("e2e_s") or 0 for r in quiet))
            argv = [sys.executable, "-m", "vtt.harness.serve_background", background,
                    str(round(quiet_s * 3 + 10, 1)), str(workers), str(bg_mib)]
            with ChildProcess(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as bg:
                bg.proc.stdout.readline()  # the workers are running
                time.sleep(0.5)
                peak = {"rss": 0}
                stop = threading.Event()

                def watch():
                    while not stop.is_set():
                        peak["rss"] = max(peak["rss"], _group_rss(bg.pid))
                        stop.wait(0.25)

                watcher = threading.Thread(target=watch, daemon=True)
                watcher.start()
                loaded = _phase(server, prompts, workload, "loaded", parallel, sampler, request_timeout_s, db_path,
                                run_id, on_request)
                stop.set()
                watcher.join(timeout=2)
            sampler.stop_event.set()
            sampler.join(timeout=2)
            with store.open_store(db_path) as s:
                serve_records.add_samples(s, run_id, sampler.take())
        q_tps, l_tps = _median(quiet, "decode_tps"), _median(loaded, "decode_tps")
        q_ttft, l_ttft = _median(quiet, "ttft_s"), _median(loaded, "ttft_s")
        result = {"background": background, "workers": workers, "parallel": parallel, "workload": workload.id,
                  "quiet": {"decode_tps": q_tps, "ttft_s": q_ttft, "n": len(quiet)},
                  "loaded": {"decode_tps": l_tps, "ttft_s": l_ttft, "n": len(loaded)},
                  # > 0: slower under load (decode: quiet/loaded - 1; TTFT: loaded/quiet - 1)
                  "decode_slowdown": (q_tps / l_tps - 1) if q_tps and l_tps else None,
                  "ttft_slowdown": (l_ttft / q_ttft - 1) if q_ttft and l_ttft else None,
                  "background_peak_rss_bytes": peak["rss"],
                  "other_work_gib": round(peak["rss"] / 2 ** 30, 3)}
        failed = [r for r in quiet + loaded if r["status"] != "ok"]
        if failed:
            status = "failed"
            result["failures"] = [{"request": r["request_key"], "error": r["error"]} for r in failed]
        with store.open_store(db_path) as s:
            serve_records.add_summary(s, run_id, "load", status, result)
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        with store.open_store(db_path) as s:
            store.set_run_status(s, run_id, status)
    return {"run_id": run_id, "label": label, "status": status, "db": db_path, "load": result}
