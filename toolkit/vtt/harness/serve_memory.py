"""Memory per context (seed test 4) and context stress (seed test 7) with real llama-server starts.

Memory: at each context, three answers side by side and stored in `serve_memory`:
  server-log        the buffers llama-server allocated (its `-lv 4` log: model, KV, compute, output)
  llama-fit-params  llama.cpp's no-allocation projection for the same flags (harness/memory.py)
  vtt-plan          vtt's own prediction (`vtt.plan.plan_many`) for the same file, context and runtime
plus the server's RSS after loading.

Stress: the largest context that loads *and* serves one request filling it, by bisection over real
starts; every probe is stored in `serve_probes` with how it ended (ok, alloc_error, load_failed,
timeout, request_failed), and compared with the largest context vtt predicts fits.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from vtt.harness.serve import (DEFAULT_REQUEST_TIMEOUT_S, DEFAULT_START_TIMEOUT_S, LlamaServer, Prompts,
                               ServerStartFailed, classify_failure, find_llama_server, open_serve_run, require_model,
                               send_request, update_run_params)
from vtt.specs.runtime import Runtime
from vtt.specs.workload import TEMPLATE_MARGIN_TOKENS, Workload, WorkloadRequest
from vtt.units import GIB


def _ngl(extra_args: list[str]) -> int | None:
    for flag in ("-ngl", "--n-gpu-layers", "--gpu-layers"):
        if flag in extra_args:
            i = extra_args.index(flag)
            if i + 1 < len(extra_args):
                try:
                    return int(extra_args[i + 1])
                except ValueError:
                    return None
    return None


def plan_queries(model: Path, contexts: list[int], runtime: Runtime, hardware: str | None,
                 backend: str | None) -> list[dict]:
    from vtt.plan import plan_many

    qs = []
    for c in contexts:
        q = {"model": str(model), "context": c, "n_prompt": min(512, c), "runtime": runtime.id}
        if hardware:
            q["hardware"] = hardware
        if backend:
            q["backend"] = backend
        qs.append(q)
    return plan_many(qs)


def _plan_parts(answer: dict) -> dict:
    if "error" in answer:
        return {"error": answer["error"]}
    compute = int(round(answer["compute_buffer_gib"] * GIB))
    parts = {"weights_bytes": answer["weights_bytes"], "kv_bytes": answer["kv_cache_bytes"],
             "compute_bytes": compute}
    parts["total_bytes"] = parts["weights_bytes"] + parts["kv_bytes"] + compute
    return parts


def _server_parts(parsed: dict) -> dict:
    total = parsed["weights_bytes"] + parsed["kv_bytes"] + parsed["rs_bytes"] + parsed["compute_bytes"] + \
        parsed["output_bytes"]
    return {"weights_bytes": parsed["weights_bytes"], "kv_bytes": parsed["kv_bytes"] + parsed["rs_bytes"],
            "compute_bytes": parsed["compute_bytes"], "output_bytes": parsed["output_bytes"], "total_bytes": total}


def _rel(pred: int | None, meas: int | None) -> float | None:
    if not pred or not meas:
        return None
    return round((pred - meas) / meas, 4)


def memory_sweep(model: str | Path, contexts: list[int], *, runtime: Runtime, label: str, db=None,
                 llama_server: str | Path | None = None, extra_args: list[str] | None = None,
                 hardware: str | None = None, backend: str | None = None, fit_params: bool = True,
                 start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
                 on_level: Callable[[dict], None] | None = None) -> dict:
    from vtt import store
    from vtt.harness.memory import measure_llama_memory, parse_memory_log
    from vtt.store import serve_records

    model = require_model(model)
    binary = str(find_llama_server(llama_server))
    extra_args = list(extra_args or [])
    run_id, db_path, _ = open_serve_run(db, label, resume=False, kind="memory", server_binary=binary,
                                        params={"model": str(model), "runtime": runtime.id, "contexts": contexts,
                                                "extra_args": extra_args, "hardware": hardware, "backend": backend})
    plans = dict(zip(contexts, plan_queries(model, contexts, runtime, hardware, backend)))
    levels = []
    status = "ok"
    try:
        for n_ctx in contexts:
            level: dict = {"n_ctx": n_ctx}
            try:
                with LlamaServer(binary, model, runtime, n_ctx, extra_args=extra_args,
                                 start_timeout_s=start_timeout_s) as srv:
                    time.sleep(0.2)
                    level["rss_bytes"] = srv.rss_bytes()
                    level["server_argv"] = srv.argv
                    parsed = parse_memory_log(srv.log_text())
                srv.remove_log()
                level["server"] = _server_parts(parsed)
            except ServerStartFailed as e:
                level["server"] = {"error": f"{e} ({e.kind})"}
                status = "failed"
            if fit_params:
                try:
                    fp = measure_llama_memory(model, n_ctx * runtime.parallel, n_ubatch=runtime.n_ubatch,
                                              flash_attn=runtime.flash_attn, type_k=runtime.type_k,
                                              type_v=runtime.type_v, n_gpu_layers=_ngl(extra_args),
                                              n_batch=runtime.n_batch, n_seq_max=runtime.parallel,
                                              llama_bench=binary, timeout_s=start_timeout_s)
                    level["fit_params"] = {"weights_bytes": fp["weights_bytes"], "kv_bytes": fp["kv_bytes"] + fp["rs_bytes"],
                                           "compute_bytes": fp["compute_bytes"], "output_bytes": fp["output_bytes"],
                                           "total_bytes": fp["weights_bytes"] + fp["context_bytes"] + fp["compute_bytes"]}
                except Exception as e:  # a missing/failed fit-params is a missing column, not a failed sweep
                    level["fit_params"] = {"error": str(e)}
            level["vtt_plan"] = _plan_parts(plans[n_ctx])
            srv_total = level["server"].get("total_bytes")
            level["plan_vs_server"] = {k: _rel(level["vtt_plan"].get(k), level["server"].get(k))
                                       for k in ("weights_bytes", "kv_bytes", "compute_bytes", "total_bytes")}
            level["plan_vs_server"]["total_bytes_pred_minus_meas"] = (
                level["vtt_plan"].get("total_bytes", 0) - srv_total if srv_total else None)
            with store.open_store(db_path) as s:
                for source, key in (("server-log", "server"), ("llama-fit-params", "fit_params"), ("vtt-plan", "vtt_plan")):
                    parts = level.get(key) or {}
                    if parts and "error" not in parts:
                        serve_records.add_memory(s, run_id, n_ctx, source, parts)
                if level.get("rss_bytes"):
                    serve_records.add_memory(s, run_id, n_ctx, "rss", {"total_bytes": level["rss_bytes"]},
                                             {"when": "after load, idle"})
            levels.append(level)
            if on_level:
                on_level(level)
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        with store.open_store(db_path) as s:
            store.set_run_status(s, run_id, status)
    return {"run_id": run_id, "label": label, "status": status, "db": db_path, "levels": levels}


# --- context stress ------------------------------------------------------------------------------

OUTPUT_TOKENS = 16
# Under an address-space cap, one malloc arena: glibc otherwise reserves 64 MiB of address space per
# thread arena, which it shrinks when the cap bites, so the edge would move from run to run
# (measured: VmPeak 399 MiB at 512 tokens with arenas, 143 MiB with MALLOC_ARENA_MAX=1).
CAPPED_ENV = {"MALLOC_ARENA_MAX": "1"}


def fill_request(n_ctx: int) -> WorkloadRequest:
    """One request whose prompt + output fill `n_ctx` (less the chat template's margin)."""
    return WorkloadRequest(id=f"fill-{n_ctx}", new_tokens=max(1, n_ctx - OUTPUT_TOKENS - TEMPLATE_MARGIN_TOKENS),
                           output_tokens=OUTPUT_TOKENS)


def probe_context(binary: str, model: Path, runtime: Runtime, n_ctx: int, *, extra_args: list[str],
                  start_timeout_s: float, request_timeout_s: float, memory_limit_bytes: int | None) -> dict:
    """Start a server at `n_ctx` and send one request that fills it; how it ended and how long it took."""
    t0 = time.monotonic()
    out: dict = {"n_ctx": n_ctx}
    srv = LlamaServer(binary, model, runtime, n_ctx, extra_args=extra_args, start_timeout_s=start_timeout_s,
                      request_timeout_s=request_timeout_s, memory_limit_bytes=memory_limit_bytes,
                      env=CAPPED_ENV if memory_limit_bytes else None)
    try:
        with srv:
            out["start_s"] = srv.start_s
            req = fill_request(n_ctx)
            wl = Workload(id="stress", name="stress", requests=[req])
            row = send_request(srv, Prompts(srv, wl), req, req.id, None, timeout_s=request_timeout_s)
            out["rss_bytes"] = row.get("rss_bytes")
            out["prompt_tokens"] = row.get("prompt_tokens")
            out["ttft_s"] = row.get("ttft_s")
            out["vm_peak_bytes"] = srv.vm_peak_bytes()
            if row["status"] == "ok":
                out["outcome"] = "ok"
            else:
                kind = (row.get("extra") or {}).get("kind")
                out["outcome"] = {"timeout": "timeout", "alloc_error": "alloc_error", "crash": "crash"}.get(kind, "request_failed")
                out["error"] = row["error"]
    except ServerStartFailed as e:
        out["outcome"] = e.kind if e.kind in ("alloc_error", "timeout") else "load_failed"
        out["error"] = str(e)
        out["log_tail"] = e.log_tail[-600:]
    except Exception as e:  # tokenizing a prompt the server cannot take, a dead server mid-request
        out["outcome"] = "request_failed"
        out["error"] = str(e)[:300]
    if out["outcome"] == "request_failed" and classify_failure(srv.log_text()) == "alloc_error":
        out["outcome"] = "alloc_error"
        out.setdefault("log_tail", srv.log_tail(5)[-600:])
    srv.remove_log()
    out["seconds"] = round(time.monotonic() - t0, 3)
    return out


def predicted_largest_fit(model: Path, runtime: Runtime, grid: list[int], hardware: str | None,
                          backend: str | None, memory_limit_bytes: int | None, anchor: dict | None) -> dict:
    """vtt's answer on the same grid: the largest context that fits.

    Without a memory limit: vtt plan's own `fits` on the hardware's budget. With one (RLIMIT_AS), the
    address space also holds libraries and thread stacks vtt does not model, so vtt's predicted growth
    is added to the server's measured VmPeak at the smallest context that served (`anchor`):
    fits(c) = VmPeak(c0) + pred(c) - pred(c0) <= limit."""
    answers = dict(zip(grid, plan_queries(model, grid, runtime, hardware, backend)))
    ok = {c: a for c, a in answers.items() if "error" not in a}
    best = None
    how = "vtt plan fits on " + str(next(iter(ok.values()), {}).get("hardware"))
    if memory_limit_bytes:
        if not anchor or not anchor.get("vm_peak_bytes"):
            return {"largest_fit": None, "how": "no context served, nothing to anchor the memory limit on"}
        c0 = anchor["n_ctx"]
        base = _plan_parts(answers.get(c0) or plan_queries(model, [c0], runtime, hardware, backend)[0])["total_bytes"]
        how = f"VmPeak at n_ctx {c0} ({anchor['vm_peak_bytes']} B) + vtt's predicted growth <= limit"
        for c, a in ok.items():
            if anchor["vm_peak_bytes"] + _plan_parts(a)["total_bytes"] - base <= memory_limit_bytes:
                best = c
    else:
        for c, a in ok.items():
            if a["fits"]:
                best = c
    return {"largest_fit": best, "how": how}


def context_stress(model: str | Path, *, runtime: Runtime, label: str, db=None, lo: int = 512,
                   hi: int | None = None, step: int = 256, llama_server: str | Path | None = None,
                   extra_args: list[str] | None = None, hardware: str | None = None, backend: str | None = None,
                   start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
                   request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S, memory_limit_bytes: int | None = None,
                   on_probe: Callable[[dict], None] | None = None) -> dict:
    """Bisection on multiples of `step` in [lo, hi] (hi defaults to the GGUF's trained context)."""
    from vtt import store
    from vtt.store import serve_records

    model = require_model(model)
    binary = str(find_llama_server(llama_server))
    extra_args = list(extra_args or [])
    if hi is None:
        hi = _trained_context(model) or 32768
    lo, hi = max(step, lo // step * step), max(step, hi // step * step)
    run_id, db_path, _ = open_serve_run(db, label, resume=False, kind="stress", server_binary=binary,
                                        params={"model": str(model), "runtime": runtime.id, "lo": lo, "hi": hi,
                                                "step": step, "extra_args": extra_args,
                                                "memory_limit_bytes": memory_limit_bytes})
    probes: list[dict] = []
    status = "ok"

    def probe(c: int) -> bool:
        p = probe_context(binary, model, runtime, c, extra_args=extra_args, start_timeout_s=start_timeout_s,
                          request_timeout_s=request_timeout_s, memory_limit_bytes=memory_limit_bytes)
        probes.append(p)
        with store.open_store(db_path) as s:
            serve_records.add_probe(s, run_id, c, p["outcome"], p["seconds"],
                                    {k: v for k, v in p.items() if k not in ("n_ctx", "outcome", "seconds")})
        if on_probe:
            on_probe(p)
        return p["outcome"] == "ok"

    largest, first_fail = None, None
    try:
        if probe(hi):
            largest = hi
        elif not probe(lo):
            first_fail = lo
        else:
            good, bad = lo, hi
            while bad - good > step:
                mid = (good + bad) // 2 // step * step
                if mid <= good:
                    mid = good + step
                if probe(mid):
                    good = mid
                else:
                    bad = mid
            largest, first_fail = good, bad
    except KeyboardInterrupt:
        status = "interrupted"
    grid = list(range(lo, hi + 1, step))
    if len(grid) > 4096:
        grid = grid[:: len(grid) // 4096 + 1]
    served = sorted((p for p in probes if p["outcome"] == "ok"), key=lambda p: p["n_ctx"])
    predicted = predicted_largest_fit(model, runtime, grid, hardware, backend, memory_limit_bytes,
                                      served[0] if served else None)
    fail = next((p for p in probes if p["n_ctx"] == first_fail), None)
    summary = {"largest_ok": largest, "first_failing": first_fail, "failure": fail and fail["outcome"],
               "failure_error": fail and fail.get("error"), "lo": lo, "hi": hi, "step": step,
               "probes": len(probes), "memory_limit_bytes": memory_limit_bytes, "vtt": predicted,
               "vtt_minus_measured": (predicted["largest_fit"] - largest)
               if predicted["largest_fit"] is not None and largest is not None else None}
    with store.open_store(db_path) as s:
        serve_records.add_summary(s, run_id, "stress", "ok" if largest else "none_loaded", summary)
        store.set_run_status(s, run_id, status)
    update_run_params(db_path, run_id, {"result": {"largest_ok": largest, "first_failing": first_fail}})
    return {"run_id": run_id, "label": label, "status": status, "db": db_path, "summary": summary, "probes": probes}


def _trained_context(model: Path) -> int | None:
    try:
        from vtt.gguf.reader import read_gguf_header
    except ImportError:
        return None
    try:
        h = read_gguf_header(str(model))
        arch = h.metadata.get("general.architecture")
        return int(h.metadata.get(f"{arch}.context_length"))
    except Exception:
        return None
