"""llama-bench through ggml-rpc-server processes: one server per device on 127.0.0.1, every buffer
of every device read back from the `-v` log, rows stored like `bench run` rows and marked with the
endpoints, and the link's measured cost beside them.

The servers are children of vtt (harness/proc.ChildProcess: own process group, death signal), so
none is left behind on any exit path. The pinned llama.cpp names the server `ggml-rpc-server`
(tools/rpc/rpc-server.cpp: `-H host -p port -t threads -d device`).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vtt.errors import EnvironmentProblem, VttError
from vtt.units import MIB

SERVER_NAMES = ("ggml-rpc-server", "rpc-server")

# Buffer lines of llama.cpp's log (src/llama-model.cpp load_tensors, src/llama-kv-cache.cpp,
# src/llama-context.cpp sched_reserve). An RPC buffer is named "RPCn[host:port]"; the pinned build
# prints RPC0 for every server's buffers, so the endpoint is what tells devices apart.
_MODEL = re.compile(r"load_tensors:\s+(\S+) model buffer size =\s+([\d.]+) MiB")
_KV = re.compile(r"llama_kv_cache:\s+(\S+) KV buffer size =\s+([\d.]+) MiB")
_RS = re.compile(r"llama_memory_recurrent:\s+(\S+) RS buffer size =\s+([\d.]+) MiB")
_COMPUTE = re.compile(r"sched_reserve:\s+(\S+) compute buffer size =\s+([\d.]+) MiB")
_ENDPOINT = re.compile(r"\[([^\]]+)\]$")


def find_rpc_server(llama_bench: str | Path) -> Path:
    """The ggml-rpc-server built beside llama-bench (vtt bench install builds both)."""
    d = Path(llama_bench).parent
    for name in SERVER_NAMES:
        if (d / name).is_file():
            return d / name
    raise EnvironmentProblem(f"no ggml-rpc-server beside {llama_bench}", code="rpc_server_missing",
                             hint="run: vtt bench install (it builds ggml-rpc-server with llama-bench)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def buffer_key(name: str) -> str:
    """'RPC0[127.0.0.1:50052]' -> '127.0.0.1:50052'; other buffers keep their name ('CPU_Mapped', 'Vulkan0')."""
    m = _ENDPOINT.search(name)
    return m.group(1) if m else name


def parse_rpc_log(text: str) -> list[dict]:
    """Per llama-bench test, in order: {model, kv, compute} bytes by buffer (endpoint for RPC buffers).
    Model buffers belong to the load the test runs on; a new load starts when a buffer repeats."""
    tests: list[dict] = []
    model: dict[str, int] = {}
    pending_kv: dict[str, int] = {}
    for line in text.splitlines():
        m = _MODEL.search(line)
        if m:
            key = buffer_key(m.group(1))
            if key in model:
                model = {}
            model[key] = model.get(key, 0) + round(float(m.group(2)) * MIB)
            continue
        m = _KV.search(line) or _RS.search(line)
        if m:
            if tests and tests[-1]["compute"] and not pending_kv:
                pass
            key = buffer_key(m.group(1))
            pending_kv[key] = pending_kv.get(key, 0) + round(float(m.group(2)) * MIB)
            continue
        m = _COMPUTE.search(line)
        if m:
            if pending_kv or not tests:
                tests.append({"model": dict(model), "kv": pending_kv, "compute": {}})
                pending_kv = {}
            tests[-1]["compute"][buffer_key(m.group(1))] = round(float(m.group(2)) * MIB)
    return tests


@dataclass
class RpcServers:
    """`with RpcServers(binary, n) as rs:` n servers on 127.0.0.1, listening; all gone afterwards.
    `envs[i]` is added to server i's environment (GGML_VK_VISIBLE_DEVICES=i: one GPU each)."""

    binary: Path
    n: int
    threads: int | None = None
    envs: list[dict] | None = None
    devices: list[str] | None = None  # ggml device name per server (-d), e.g. Vulkan0
    start_timeout_s: float = 30.0
    endpoints: list[str] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    _stack: ExitStack | None = None

    def __enter__(self) -> "RpcServers":
        from vtt.harness.proc import ChildProcess

        self._stack = ExitStack()
        self._dir = Path(tempfile.mkdtemp(prefix="vtt-rpc-"))
        try:
            for i in range(self.n):
                port = free_port()
                argv = [str(self.binary), "-H", "127.0.0.1", "-p", str(port)]
                if self.threads:
                    argv += ["-t", str(self.threads)]
                if self.devices:
                    argv += ["-d", self.devices[i]]
                log = self._dir / f"rpc-server-{i}.log"
                env = os.environ | (self.envs[i] if self.envs else {})
                f = self._stack.enter_context(open(log, "wb"))
                child = ChildProcess(argv, stdout=f, stderr=subprocess.STDOUT, env=env)
                self._stack.enter_context(child)
                self.endpoints.append(f"127.0.0.1:{port}")
                self.logs.append(log)
                self._wait(port, child, log)
        except BaseException:
            self._stack.close()
            raise
        return self

    def _wait(self, port: int, child, log: Path) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if child.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-2:]
                raise EnvironmentProblem(f"ggml-rpc-server exited at start (code {child.poll()}): {' | '.join(tail)}")
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise EnvironmentProblem(f"ggml-rpc-server did not listen on 127.0.0.1:{port} in {self.start_timeout_s:g} s")

    def __exit__(self, *exc) -> None:
        if self._stack is not None:
            self._stack.close()


@dataclass
class RpcOutcome:
    records: list[dict]
    log_tests: list[dict]
    returncode: int
    stderr_tail: str
    wall_s: float


def run_llama_bench_rpc(llama_bench: str | Path, args: list[str], endpoints: list[str],
                        tensor_split: list[float] | None = None, extra: list[str] | None = None,
                        timeout_s: float | None = None, env: dict | None = None) -> RpcOutcome:
    """llama-bench ARGS --rpc ENDPOINTS [-ts A/B] -v: its jsonl rows and the buffers of each test."""
    from vtt.harness.proc import ChildProcess

    argv = [str(llama_bench), *args, "-o", "jsonl"]
    if endpoints:  # none: the same test without RPC (the link's baseline)
        # only the rpc-servers' devices: a GPU of the main process would take layers too
        argv += ["--rpc", ",".join(endpoints), "-dev", "/".join(f"RPC{i}" for i in range(len(endpoints))), "-v"]
    if tensor_split:
        argv += ["-ts", "/".join(f"{x:g}" for x in tensor_split)]
    argv += extra or []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vtt-rpc-bench-") as tmp:
        out_p, err_p = Path(tmp) / "out.jsonl", Path(tmp) / "err.log"
        with open(out_p, "wb") as out, open(err_p, "wb") as err:
            child = ChildProcess(argv, stdout=out, stderr=err, env=(os.environ | env) if env else None)
            with child:
                try:
                    code = child.proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    code = -9
        text = err_p.read_text(errors="replace")
        records = []
        for line in out_p.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return RpcOutcome(records, parse_rpc_log(text), code, "\n".join(text.strip().splitlines()[-15:]),
                      time.monotonic() - t0)


def device_buffers(log_test: dict, endpoints: list[str]) -> list[dict]:
    """Per device, in --rpc order: weights, KV and compute bytes from one test's log buffers."""
    return [{"endpoint": ep, "weights_bytes": log_test["model"].get(ep, 0), "kv_cache_bytes": log_test["kv"].get(ep, 0),
             "compute_buffer_bytes": log_test["compute"].get(ep, 0)} for ep in endpoints]


def expected_split(model_path: str, n_devices: int, tensor_split: list[float] | None, record: dict) -> list[dict]:
    """vtt's per-device weights, KV and compute bytes for one llama-bench row run through
    `n_devices` local rpc-servers (the main process keeps no device). Without a tensor split the
    servers report the same free memory (one host), so the shares are equal."""
    import numpy as np

    from vtt.cost import cluster as cc
    from vtt.plan import resolve_model
    from vtt.plan_split import model_tensors
    from vtt.specs.catalog import default_world
    from vtt.specs.runtime import KV_TYPE_BYTES

    world = default_world()
    rm = resolve_model(world, str(model_path), None, None)
    tp = cc.place_tensors(model_tensors(rm, str(model_path), world), rm.arch.n_layer)
    devs = [cc.Device(f"RPC{i}", i + 1, 1.0, 1.0) for i in range(n_devices)]
    ctx = int(record.get("n_prompt", 0)) + int(record.get("n_gen", 0)) + int(record.get("n_depth", 0))
    q = {"context": np.array([max(ctx, 1)]), "parallel": np.array([1]), "n_ubatch": np.array([int(record.get("n_ubatch", 512))]),
         "flash_attn": np.array([bool(record.get("flash_attn", 1))])}
    bk = [KV_TYPE_BYTES[str(record.get("type_k", "f16"))]]
    bv = [KV_TYPE_BYTES[str(record.get("type_v", "f16"))]]
    sp = cc.split_memory(rm.arch, tp, devs, q, bk, bv, tensor_split or [1.0] * n_devices)
    return [{"weights_bytes": int(round(sp.weights[d])), "kv_cache_bytes": int(round(sp.kv[0, d])),
             "compute_buffer_bytes": int(round(sp.compute[0, d]))} for d in range(n_devices)]


def check_devices(measured: list[dict], expected: list[dict]) -> dict:
    """Exact within the log's resolution (MiB with 2 decimals) for weights and KV; compute as a ratio."""
    tol = 0.005 * MIB + 1
    return {"weights_exact": all(abs(m["weights_bytes"] - e["weights_bytes"]) <= tol for m, e in zip(measured, expected)),
            "kv_exact": all(abs(m["kv_cache_bytes"] - e["kv_cache_bytes"]) <= tol for m, e in zip(measured, expected)),
            "compute_ratio": [round(e["compute_buffer_bytes"] / m["compute_buffer_bytes"], 4) if m["compute_buffer_bytes"] else None
                              for m, e in zip(measured, expected)],
            "expected": expected}


def run_rpc_cells(cells, *, llama_bench: str, n_servers: int, db, label: str,
                  tensor_split: list[float] | None = None, threads: int | None = None,
                  baseline: bool = False, cell_timeout_s: float | None = None, one_gpu_each: bool = False,
                  on_cell: Callable[[int, int, object], None] | None = None) -> dict:
    """Run every cell through `n_servers` local rpc-servers; store each row (marked with the
    endpoints and each device's buffers from the log) in the database. With `baseline`, also run
    each cell without RPC and store the link's measured per-token cost (tg) in the run's params."""
    from vtt import store
    from vtt.harness.fingerprint import collect_fingerprint

    binary = find_rpc_server(llama_bench)
    fingerprint = collect_fingerprint(llama_bench, None)
    version = fingerprint.get("llama_bench_version") or {}
    ok = failed = 0
    link_pairs = []
    checks = {"rows": 0, "weights_exact": 0, "kv_exact": 0}
    envs = [{"GGML_VK_VISIBLE_DEVICES": str(i), "CUDA_VISIBLE_DEVICES": str(i), "HIP_VISIBLE_DEVICES": str(i)}
            for i in range(n_servers)] if one_gpu_each else None
    with RpcServers(binary, n_servers, threads=threads, envs=envs) as rs:
        with store.open_store(db) as s:
            db_path = str(s.path)
            run_id, _ = store.open_labelled_run(
                s, label, resume=False, resume_hint="pick another --label",
                machine_id=store.upsert_machine(s, fingerprint), llama_bench_path=str(llama_bench),
                backend=version.get("backends"),
                build={"build_commit": version.get("build_commit"), "build_number": version.get("build_number")},
                params={"rpc_endpoints": rs.endpoints, "tensor_split": tensor_split})
        for i, cell in enumerate(cells):
            if on_cell:
                on_cell(i, len(cells), cell)
            args = [a for a in cell.llama_bench_args()]
            args = _drop(args, "-o")
            res = run_llama_bench_rpc(llama_bench, args, rs.endpoints, tensor_split, timeout_s=cell_timeout_s)
            with store.open_store(db_path) as s:
                if res.returncode != 0 or not res.records:
                    failed += 1
                    store.add_result(s, run_id, {**cell.as_record(), "rpc_endpoints": rs.endpoints}, status="failed",
                                     cell_key=cell.key, error=f"llama-bench --rpc exited {res.returncode}",
                                     stderr_tail=res.stderr_tail, wall_s=res.wall_s)
                    continue
                ok += 1
                for rec, lt in zip(res.records, res.log_tests):
                    measured = device_buffers(lt, rs.endpoints)
                    try:  # vtt's answer for the same split, checked against llama.cpp's own buffers
                        chk = check_devices(measured, expected_split(cell.model, n_servers, tensor_split, rec))
                        checks["rows"] += 1
                        checks["weights_exact"] += chk["weights_exact"]
                        checks["kv_exact"] += chk["kv_exact"]
                    except VttError as e:
                        chk = {"error": e.message}
                    rec = {**rec, "rpc_endpoints": rs.endpoints, "rpc_devices": measured, "vtt_check": chk,
                           "host_buffers": {k: v for k, v in {**lt["model"], **lt["compute"]}.items()
                                            if k not in rs.endpoints}}
                    store.add_result(s, run_id, rec, cell_key=cell.key, wall_s=res.wall_s)
            if baseline:
                local = run_llama_bench_rpc(llama_bench, args, [], None, timeout_s=cell_timeout_s).records
                for r_rpc, r_loc in zip(res.records, local):
                    if r_rpc.get("n_gen") and r_loc.get("avg_ts"):
                        link_pairs.append({"test": f"tg{r_rpc['n_gen']}", "model": Path(cell.model).name,
                                           "rpc_tps": r_rpc["avg_ts"], "local_tps": r_loc["avg_ts"],
                                           "ms_per_token": 1e3 / r_rpc["avg_ts"] - 1e3 / r_loc["avg_ts"]})
        link = None
        if link_pairs:
            import statistics

            from vtt.cost.cluster import link_from_measurements
            from vtt.specs.catalog import default_world

            lo = default_world().get_link("loopback")
            # bytes per token on loopback are a few KB: their time is noise next to the round trips
            graph_s = link_from_measurements([p["local_tps"] for p in link_pairs], [p["rpc_tps"] for p in link_pairs],
                                             [0.0] * len(link_pairs), n_servers, lo.bytes_per_s, lo.rtt_us * 1e-6)
            link = {"pairs": link_pairs, "ms_per_token_median": statistics.median(p["ms_per_token"] for p in link_pairs),
                    "remote_devices": n_servers, "link": "loopback", "rtt_us_assumed": lo.rtt_us,
                    "rpc_graph_us_fitted": round(graph_s * 1e6, 1)}
        with store.open_store(db_path) as s:
            params = {"rpc_endpoints": rs.endpoints, "tensor_split": tensor_split, "link_measured": link}
            s.execute("UPDATE runs SET params = ? WHERE run_id = ?", [json.dumps(params), run_id])
            store.set_run_status(s, run_id, "ok" if not failed else "failed")
    return {"run_id": run_id, "label": label, "db": db_path, "cells_ok": ok, "cells_failed": failed,
            "rpc_endpoints": rs.endpoints, "link_measured": link, "memory_check": checks}


def _drop(args: list[str], flag: str) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == flag:
            skip = True
            continue
        out.append(a)
    return out
