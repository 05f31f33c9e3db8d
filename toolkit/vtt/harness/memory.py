"""llama.cpp's own memory numbers for one model + context, to check vtt's memory model against.

llama-bench -v prints the model and KV buffers but no compute buffer, and sizes its context from
the test (n_prompt + n_gen + n_depth), not from a chosen n_ctx. `llama-fit-params --fit-print on -v`
(built beside llama-bench by `vtt bench install`) creates the context with no allocation and logs
every buffer llama.cpp would allocate, so it answers in under a second even for models larger than RAM.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from vtt.errors import EnvironmentProblem
from vtt.harness.fit_params_run import libraries
from vtt.units import MIB

_LINE = {
    "compute": re.compile(r"(\S+) compute buffer size = +([\d.]+) MiB"),
    "output": re.compile(r"(\S+) +output buffer size = +([\d.]+) MiB"),
    "kv": re.compile(r"llama_kv_cache: size = +([\d.]+) MiB"),
    "rs": re.compile(r"llama_memory_recurrent: size = +([\d.]+) MiB"),
    "model_buffer": re.compile(r"(\S+) model buffer size = +([\d.]+) MiB"),
}
_BREAKDOWN_ROW = re.compile(r"\|\s+-\s+(.+?)\s+\|.*?(\d+)\s+=\s+(\d+)\s+\+\s+(\d+)\s+\+\s+(\d+)\s+")


def find_fit_params(llama_bench: str | Path | None = None) -> Path:
    from vtt.harness.locate import find_llama_bench

    bench = Path(llama_bench) if llama_bench else find_llama_bench()
    tool = bench.parent / "llama-fit-params"
    if not tool.is_file():
        raise EnvironmentProblem(f"llama-fit-params not found beside {bench}", code="llama_bench_missing",
                                 hint="run: vtt bench install (it builds llama-fit-params too)")
    return tool


def parse_memory_log(text: str) -> dict:
    """Bytes per part from llama.cpp's log lines (MiB with 2 decimals, so +-5 KiB per line)."""
    def total(key: str, group: int) -> int:
        return int(round(sum(float(m.group(group)) for m in _LINE[key].finditer(text)) * MIB))

    out = {"compute_bytes": total("compute", 2), "output_bytes": total("output", 2),
           "kv_bytes": total("kv", 1), "rs_bytes": total("rs", 1)}
    model_buffers = total("model_buffer", 2)
    rows = _BREAKDOWN_ROW.findall(text)
    # With no allocation the model buffers print 0.00; the breakdown table has the model in whole MiB.
    weights_mib = sum(int(r[2]) for r in rows)
    out["weights_bytes"] = model_buffers if model_buffers else weights_mib * MIB
    out["weights_resolution_bytes"] = int(0.005 * MIB) if model_buffers else MIB // 2 * max(1, len(rows))
    out["by_device"] = [{"device": r[0], "self_mib": int(r[1]), "model_mib": int(r[2]), "context_mib": int(r[3]),
                         "compute_mib": int(r[4])} for r in rows]
    out["compute_by_buffer"] = {m.group(1): int(round(float(m.group(2)) * MIB))
                                for m in _LINE["compute"].finditer(text)}
    return out


def measure_llama_memory(model_path: str | Path, n_ctx: int, n_ubatch: int = 512, flash_attn: bool = True,
                         type_k: str = "f16", type_v: str = "f16", n_gpu_layers: int | None = None,
                         n_batch: int | None = None, n_seq_max: int | None = None,
                         llama_bench: str | Path | None = None, timeout_s: float = 300) -> dict:
    """Bytes llama.cpp reports for weights, KV cache (+ recurrent state), compute and output buffers."""
    tool = find_fit_params(llama_bench)
    cmd = [str(tool), "-m", str(model_path), "-c", str(n_ctx), "-ub", str(n_ubatch),
           "-fa", "on" if flash_attn else "off", "-ctk", type_k, "-ctv", type_v, "--fit-print", "on", "-v"]
    if n_gpu_layers is not None:
        cmd += ["-ngl", str(n_gpu_layers)]
    if n_batch is not None:
        cmd += ["-b", str(n_batch)]
    if n_seq_max is not None:
        cmd += ["-np", str(n_seq_max)]
    # llama.cpp's logger is asynchronous and never drained at exit, so the binary loses the last
    # lines (compute buffers, breakdown) in 10-70 % of runs; fit_params_run calls the same entry
    # point and drains the log. A static build has no libraries to load: rerun the binary instead.
    run = cmd
    if libraries(tool.parent) is not None:
        run = [sys.executable, "-m", "vtt.harness.fit_params_run", str(tool.parent), *cmd[1:]]
    tries = 3 if run is not cmd else 12
    for _ in range(tries):
        try:
            proc = subprocess.run(run, capture_output=True, text=True, errors="replace", timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise EnvironmentProblem(f"llama-fit-params timed out after {timeout_s:g} s on {model_path}") from None
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            tail = " | ".join(log.strip().splitlines()[-3:])
            raise EnvironmentProblem(f"llama-fit-params failed on {model_path} (exit {proc.returncode}): {tail}")
        out = parse_memory_log(log)
        if out["compute_bytes"] and out["by_device"]:
            break
    else:
        raise EnvironmentProblem(f"llama-fit-params printed no memory breakdown for {model_path} in {tries} tries")
    out["context_bytes"] = out["kv_bytes"] + out["rs_bytes"] + out["output_bytes"]
    out.update({"n_ctx": n_ctx, "n_ubatch": n_ubatch, "flash_attn": flash_attn, "type_k": type_k,
                "type_v": type_v, "source": "llama-fit-params --fit-print on -v (no-alloc projection)",
                "command": cmd})
    return out


_BENCH_MODEL = re.compile(r"load_tensors:\s+(\S+) model buffer size =\s+([\d.]+) MiB")
_BENCH_KV = re.compile(r"llama_kv_cache: size =\s+([\d.]+) MiB \(\s*(\d+) cells")
_BENCH_COMPUTE = re.compile(r"sched_reserve:\s+(\S+) compute buffer size =\s+([\d.]+) MiB")


def parse_bench_verbose_log(text: str) -> list[dict]:
    """Per llama-bench test, in order, from `llama-bench -v` stderr: the KV cache bytes (both caches of
    a sliding-window model summed), compute buffer bytes by buffer (device, host) and the model
    buffers of the load the test belongs to. The order matches llama-bench's output rows."""
    tests: list[dict] = []
    model: dict[str, int] = {}
    for line in text.splitlines():
        m = _BENCH_MODEL.search(line)
        if m:
            if m.group(1) in model:  # a new model load starts
                model = {}
            model[m.group(1)] = int(round(float(m.group(2)) * MIB))
            continue
        m = _BENCH_KV.search(line)
        if m:
            if tests and not tests[-1]["compute"]:  # second cache (SWA layers) of the same context
                tests[-1]["kv_bytes"] += int(round(float(m.group(1)) * MIB))
            else:
                tests.append({"kv_bytes": int(round(float(m.group(1)) * MIB)), "cells": int(m.group(2)),
                              "model": dict(model), "compute": {}})
            continue
        m = _BENCH_COMPUTE.search(line)
        if m and tests:
            tests[-1]["compute"][m.group(1)] = int(round(float(m.group(2)) * MIB))
    return tests
