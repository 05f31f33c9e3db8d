"""`vtt bench serve`: start a real llama-server, send a workload's chat requests, store each one.

The server runs through `proc.ChildProcess` (own process group, death signal), so it is stopped on
success, failure, timeout, Ctrl-C, SIGTERM and even `kill -9` of vtt. Its log goes to a file with
`-lv 4`, which makes llama.cpp print its buffer sizes (model, KV, compute: see harness/memory.py).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from vtt.errors import BadQuery, EnvironmentProblem
from vtt.harness.proc import ChildProcess
from vtt.harness.serve_http import Client, HttpFailure
from vtt.specs.runtime import Runtime
from vtt.specs.workload import Workload, WorkloadRequest

MIB = 1024 * 1024
SAMPLE_PERIOD_S = 0.25
GPU_SAMPLE_PERIOD_S = 1.0
DEFAULT_START_TIMEOUT_S = 300.0
DEFAULT_REQUEST_TIMEOUT_S = 600.0

# llama.cpp's words for "could not allocate" (ggml-backend.cpp ggml_backend_buffer_alloc, llama-context.cpp,
# ggml-vulkan.cpp vk::OutOfDeviceMemoryError, ggml-cuda.cu cudaMalloc) and the server's load failure.
_ALLOC_PATTERNS = re.compile(r"failed to allocate|out of memory|OutOfDeviceMemory|ErrorOutOfHostMemory|"
                             r"cudaMalloc failed|unable to allocate|failed to create context|"
                             r"std::bad_alloc|not enough memory|"
                             r"Thread creation failed", re.I)  # libgomp: no room for a thread stack
_BIND_PATTERNS = re.compile(r"couldn't bind|address already in use|failed to listen", re.I)


# --- locating and starting the server ------------------------------------------------------------

def find_llama_server(explicit: str | Path | None = None) -> Path:
    """--llama-server PATH, else $VTT_LLAMA_SERVER, else $LLAMA_BIN_DIR/llama-server, else the cached
    build beside llama-bench (cpu, then vulkan)."""
    from vtt.harness.locate import find_tool

    return find_tool("llama-server", explicit, "VTT_LLAMA_SERVER")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_argv(binary: str | Path, model: str | Path, runtime: Runtime, n_ctx: int, port: int,
                extra: list[str] | None = None) -> list[str]:
    """llama-server's command line for a runtime profile. -c is per slot times slots, so that each of
    `parallel` slots holds `n_ctx` (without -kvu llama-server splits -c across slots)."""
    argv = [str(binary), "-m", str(model), "-c", str(n_ctx * runtime.parallel), "-np", str(runtime.parallel),
            "-b", str(runtime.n_batch), "-ub", str(runtime.n_ubatch), "-ctk", runtime.type_k, "-ctv", runtime.type_v,
            "-fa", "on" if runtime.flash_attn else "off"]
    if runtime.kv_unified:
        argv.append("-kvu")
    if runtime.swa_full:
        argv.append("--swa-full")
    argv += ["--host", "127.0.0.1", "--port", str(port), "--jinja", "-lv", "4", "--no-webui"]
    return argv + list(extra or [])


class ServerStartFailed(Exception):
    def __init__(self, kind: str, message: str, log_tail: str = ""):
        super().__init__(message)
        self.kind = kind  # alloc_error, load_failed, timeout, bind
        self.log_tail = log_tail


def classify_failure(log: str) -> str:
    if _BIND_PATTERNS.search(log):
        return "bind"
    if _ALLOC_PATTERNS.search(log):
        return "alloc_error"
    return "load_failed"


class LlamaServer:
    """`with LlamaServer(binary, model, runtime, n_ctx) as srv:` srv.client talks to it; stopped after."""

    def __init__(self, binary: str | Path, model: str | Path, runtime: Runtime, n_ctx: int, *,
                 extra_args: list[str] | None = None, start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
                 request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S, log_path: str | Path | None = None,
                 env: dict | None = None, memory_limit_bytes: int | None = None):
        self.binary, self.model, self.runtime, self.n_ctx = str(binary), str(model), runtime, n_ctx
        self.extra_args = extra_args or []
        self.start_timeout_s = start_timeout_s
        self.request_timeout_s = request_timeout_s
        self.env = env
        self.memory_limit_bytes = memory_limit_bytes  # RLIMIT_AS: a smaller machine, for context stress
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="vtt-llama-server-", suffix=".log")[1])
        self.child: ChildProcess | None = None
        self.client: Client | None = None
        self.argv: list[str] = []
        self.ready_at: float | None = None
        self.start_s: float | None = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 15) -> str:
        return "\n".join(self.log_text().strip().splitlines()[-n:])

    def __enter__(self) -> "LlamaServer":
        try:
            for attempt in range(3):  # a port picked free can be taken before the server binds it
                try:
                    self._start_once()
                    return self
                except ServerStartFailed as e:
                    self.stop()
                    if e.kind != "bind" or attempt == 2:
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def _start_once(self) -> None:
        port = free_port()
        self.argv = server_argv(self.binary, self.model, self.runtime, self.n_ctx, port, self.extra_args)
        log = open(self.log_path, "wb")
        t0 = time.monotonic()
        try:
            rlimits = None
            if self.memory_limit_bytes:
                import resource

                # no core file: a capped server may crash (SIGSEGV seen) and would drop one in the cwd
                rlimits = {resource.RLIMIT_AS: (self.memory_limit_bytes, self.memory_limit_bytes),
                           resource.RLIMIT_CORE: (0, 0)}
            self.child = ChildProcess(self.argv, rlimits=rlimits, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      env=(os.environ | self.env) if self.env else None)
            self.child.start()
        except OSError as e:
            raise EnvironmentProblem(f"cannot start llama-server {self.binary}: {e.strerror}") from None
        finally:
            log.close()
        self.client = Client(f"http://127.0.0.1:{port}", timeout_s=self.request_timeout_s)
        deadline = t0 + self.start_timeout_s
        while True:
            code = self.child.poll()
            if code is not None:
                text = self.log_text()
                raise ServerStartFailed(classify_failure(text), f"llama-server exited with code {code} while loading",
                                        self.log_tail())
            try:
                status, body = self.client.get("/health", timeout_s=5)
                if status == 200:
                    break
            except HttpFailure:
                pass
            if time.monotonic() > deadline:
                raise ServerStartFailed("timeout", f"llama-server not ready after {self.start_timeout_s:g} s",
                                        self.log_tail())
            time.sleep(0.05)
        self.ready_at = time.monotonic()
        self.start_s = self.ready_at - t0

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.child is not None:
            self.child.stop()
            self.child = None

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None and self.child.proc is not None else None

    def rss_bytes(self) -> int | None:
        return self.child.rss_bytes() if self.child is not None else None

    def vm_peak_bytes(self) -> int | None:
        """Peak virtual size (VmPeak): what an RLIMIT_AS cap is checked against."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmPeak:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, TypeError):
            return None
        return None

    def remove_log(self) -> None:
        try:
            self.log_path.unlink()
        except OSError:
            pass

    def tokenize(self, text: str) -> list[int]:
        status, body = self.client.post("/tokenize", {"content": text, "add_special": False})
        if status != 200 or not isinstance(body, dict):
            raise EnvironmentProblem(f"llama-server /tokenize answered {status}")
        return body["tokens"]

    def detokenize(self, tokens: list[int]) -> str:
        status, body = self.client.post("/detokenize", {"tokens": tokens})
        if status != 200 or not isinstance(body, dict):
            raise EnvironmentProblem(f"llama-server /detokenize answered {status}")
        return body["content"]


# --- memory sampling over time -------------------------------------------------------------------

def _visible_gpus() -> list[str]:
    """`-i N,...` for the GPUs this server may use: nvidia-smi ignores CUDA_VISIBLE_DEVICES and
    GGML_VK_VISIBLE_DEVICES and would otherwise sum every GPU of the host, other jobs' included
    (a model loading on GPU 0 read as a 5 GB "leak" of a server on GPU 1)."""
    import os

    ids = os.environ.get("GGML_VK_VISIBLE_DEVICES") or os.environ.get("CUDA_VISIBLE_DEVICES")
    return ["-i", ids] if ids and all(x.strip().isdigit() for x in ids.split(",")) else []


def _gpu_reader() -> tuple[Callable[[], int | None], str] | None:
    """Device memory in use: nvidia-smi where it exists, else amdgpu's sysfs counters."""
    if shutil.which("nvidia-smi"):
        def nvidia() -> int | None:
            try:
                out = subprocess.run(["nvidia-smi", *_visible_gpus(), "--query-gpu=memory.used",
                                      "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5).stdout
                return sum(int(x) for x in out.split()) * MIB
            except (OSError, subprocess.SubprocessError, ValueError):
                return None
        return nvidia, "nvidia-smi memory.used (device)"
    from vtt.harness.fingerprint import vram_used_paths

    paths = vram_used_paths().get("vram") or []
    if paths:
        def amd() -> int | None:
            total = None
            for p in paths:
                try:
                    total = (total or 0) + int(Path(p).read_text())
                except (OSError, ValueError):
                    pass
            return total
        return amd, "sysfs mem_info_vram_used (device)"
    return None


class MemorySampler(threading.Thread):
    """RSS of the server every SAMPLE_PERIOD_S (a /proc read), device memory every GPU_SAMPLE_PERIOD_S."""

    def __init__(self, server: LlamaServer):
        super().__init__(daemon=True)
        self.server = server
        self.t0 = server.ready_at or time.monotonic()
        self.samples: list[tuple[float, int | None, int | None, str | None]] = []
        self.stop_event = threading.Event()
        self.gpu = _gpu_reader()
        self._last_gpu = (0.0, None)
        self.lock = threading.Lock()

    def sample(self) -> tuple[float, int | None, int | None, str | None]:
        now = time.monotonic() - self.t0
        gpu_bytes, source = None, None
        if self.gpu is not None:
            if now - self._last_gpu[0] >= GPU_SAMPLE_PERIOD_S or self._last_gpu[1] is None:
                self._last_gpu = (now, self.gpu[0]())
            gpu_bytes, source = self._last_gpu[1], self.gpu[1]
        s = (now, self.server.rss_bytes(), gpu_bytes, source)
        with self.lock:
            self.samples.append(s)
        return s

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(SAMPLE_PERIOD_S)

    def peak_rss_since(self, t: float) -> int | None:
        with self.lock:
            vals = [s[1] for s in self.samples if s[0] >= t and s[1] is not None]
        return max(vals) if vals else None

    def take(self) -> list[tuple]:
        with self.lock:
            out, self.samples = self.samples, []
        return out

    def now(self) -> float:
        return time.monotonic() - self.t0


# --- prompts of a given token count --------------------------------------------------------------

_WORDS = ("the function returns a list of values from the cache when the key is found otherwise it "
          "reads the file parses each line and stores the result in a dictionary keyed by name then "
          "checks the index for errors raises an exception if the value is missing and logs the request "
          "before the server sends the response to the client with the status code and headers").split()


def deterministic_text(seed: int, n_words: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(_WORDS) for _ in range(n_words))


def text_of_tokens(server: LlamaServer, n_tokens: int, seed: int) -> tuple[str, int]:
    """Deterministic text that the server's tokenizer makes into `n_tokens` tokens (give or take the
    merge at the cut); returns (text, measured count)."""
    # tokens per word differ by tokenizer (about 1.3 for BPE vocabularies, 6 for a byte-level one):
    # measure it on a sample so the text sent to /tokenize is barely longer than needed
    sample = len(server.tokenize(deterministic_text(seed, 200))) / 200
    n_words = max(8, int(n_tokens / max(sample, 0.1) * 1.05) + 8)
    tokens = server.tokenize(deterministic_text(seed, n_words))
    while len(tokens) < n_tokens:
        n_words = int(n_words * 1.5) + 8
        tokens = server.tokenize(deterministic_text(seed, n_words))
    text = server.detokenize(tokens[:n_tokens])
    return text, len(server.tokenize(text))


def request_seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


# --- one request ---------------------------------------------------------------------------------

def request_row(result, wall_start: float) -> dict:
    """The contract fields from a finished stream (usage + the server's timings)."""
    usage, timings = result.usage or {}, result.timings or {}
    details = usage.get("prompt_tokens_details") or {}
    cached = timings.get("cache_n", details.get("cached_tokens"))
    prompt = usage.get("prompt_tokens")
    if prompt is None and timings:
        prompt = (timings.get("prompt_n") or 0) + (timings.get("cache_n") or 0)
    output = usage.get("completion_tokens", timings.get("predicted_n"))
    # Decode speed: the server's own count over its own clock (timings.predicted_per_second) where it
    # exists. The client-side rate between the first and last streamed chunk is kept too, but on a
    # starved machine llama-server's HTTP thread can flush many tokens at once (measured on the 2-core
    # CI box: 32 tokens within 0.6 ms, "109367 t/s"), so it is not the headline number.
    stream = None
    if output and output > 1 and len(result.token_times) > 1 and result.token_times[-1] > result.token_times[0]:
        stream = (output - 1) / (result.token_times[-1] - result.token_times[0])
    decode = timings.get("predicted_per_second") or stream
    server_ttft = None
    if timings.get("prompt_ms") is not None and timings.get("predicted_per_token_ms") is not None:
        server_ttft = (timings["prompt_ms"] + timings["predicted_per_token_ms"]) / 1000
    return {"prompt_tokens": prompt, "cached_tokens": cached, "output_tokens": output,
            "ttft_s": result.ttft_s, "decode_tps": decode, "e2e_s": result.e2e_s, "timings": timings,
            "finish_reason": result.finish_reason, "t_start_s": wall_start,
            "stream_tps": stream, "server_ttft_s": server_ttft}


@dataclass
class Prompts:
    """Prompt text per prefix name and per request key, made once per server (tokenizer-exact)."""

    server: LlamaServer
    workload: Workload
    prefixes: dict[str, tuple[str, int]] = field(default_factory=dict)

    def messages(self, req: WorkloadRequest, key: str, salt: str = "") -> tuple[list[dict], dict]:
        info = {}
        msgs = []
        if req.prefix_tokens:
            name = req.prefix or f"{req.id}-sys"
            if name not in self.prefixes:
                self.prefixes[name] = text_of_tokens(self.server, req.prefix_tokens,
                                                     request_seed(self.workload.id, "prefix", name))
            text, n = self.prefixes[name]
            msgs.append({"role": "system", "content": text})
            info["prefix_tokens"] = n
        text, n = text_of_tokens(self.server, req.new_tokens, request_seed(self.workload.id, key, salt))
        msgs.append({"role": "user", "content": text})
        info["new_tokens"] = n
        return msgs, info


def send_request(server: LlamaServer, prompts: Prompts, req: WorkloadRequest, key: str,
                 sampler: MemorySampler | None, timeout_s: float | None = None, salt: str = "") -> dict:
    """Send one request; a row with status ok, or failed and the error (timeout, http, server gone)."""
    msgs, info = prompts.messages(req, key, salt)
    start = sampler.now() if sampler else 0.0
    row: dict = {"request_key": key, "request": req.id, "status": "ok", "error": None}
    try:
        result = server.client.chat_stream(msgs, req.output_tokens, timeout_s=timeout_s,
                                           extra={"ignore_eos": True})
        row.update(request_row(result, start))
        if not row["ttft_s"]:
            row.update(status="failed", error="the server streamed no token")
    except HttpFailure as e:
        row.update(status="failed", error=str(e), t_start_s=start)
        row["extra_kind"] = e.kind
        if server.child is not None and server.child.poll() is not None:
            row["error"] = f"llama-server died (exit {server.child.poll()}): {server.log_tail(3)}"
            kind = classify_failure(server.log_text())
            row["extra_kind"] = "crash" if kind == "load_failed" and server.child.poll() < 0 else kind
    if sampler is not None:
        s = sampler.sample()
        row["rss_bytes"], row["gpu_bytes"] = s[1], s[2]
        row["rss_peak_bytes"] = max(filter(None, [sampler.peak_rss_since(start), s[1]]), default=None)
    else:
        row["rss_bytes"] = server.rss_bytes()
    row["extra"] = {**info, "mode": req.mode, "finish_reason": row.pop("finish_reason", None),
                    "kind": row.pop("extra_kind", None), "stream_tps": row.pop("stream_tps", None),
                    "server_ttft_s": row.pop("server_ttft_s", None)}
    return row


def contract_row(workload: str, row: dict) -> dict:
    """The design.md JSON line for one finished request."""
    rss = row.get("rss_bytes")
    return {"workload": workload, "request": row["request_key"], "cached_tokens": row.get("cached_tokens"),
            "prompt_tokens": row.get("prompt_tokens"), "output_tokens": row.get("output_tokens"),
            "ttft_s": _r(row.get("ttft_s")), "decode_tps": _r(row.get("decode_tps")), "e2e_s": _r(row.get("e2e_s")),
            "rss_mib": _r(rss / MIB if rss else None), "status": row["status"], "error": row.get("error")}


def _r(x, nd=4):
    return None if x is None else round(float(x), nd)


# --- a whole run -----------------------------------------------------------------------------------

@dataclass
class ServeSummary:
    run_id: int
    label: str
    status: str  # ok, failed, interrupted
    workload: str
    requests_total: int
    requests_skipped: int
    requests_ok: int
    requests_failed: int
    db: str
    server_argv: list[str]
    http_client: str
    failures: list[dict] = field(default_factory=list)
    memory: dict | None = None

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def require_model(model: str | Path) -> Path:
    path = Path(model)
    if not path.is_file():
        raise BadQuery(f"model file not found: {path}", hint="give a local .gguf file with -m")
    return path


def load_runtime(runtime_id: str | None) -> Runtime:
    from vtt.specs.catalog import default_world

    return default_world().get_runtime(runtime_id or "llama-cpp-defaults")


def serve_fingerprint(server_binary: str) -> dict:
    from vtt.harness.fingerprint import collect_fingerprint
    from vtt.harness.locate import read_version

    fp = collect_fingerprint(None)
    fp["llama_server_version"] = read_version(Path(server_binary))
    return fp


def open_serve_run(db, label: str, *, resume: bool, kind: str, server_binary: str, params: dict,
                   hardware: str | None = None, backend: str | None = None):
    """Create (or reopen with --resume) the run; returns (run_id, db_path, finished request keys)."""
    from vtt import store
    from vtt.store import serve_records

    fingerprint = serve_fingerprint(server_binary)
    version = fingerprint.get("llama_server_version") or {}
    with store.open_store(db) as s:
        db_path = str(s.path)
        run_id, reopened = store.open_labelled_run(
            s, label, resume=resume, source="serve", machine_id=store.upsert_machine(s, fingerprint),
            llama_bench_path=server_binary, hardware=hardware, backend=backend,
            build={"build_commit": version.get("build_commit"), "build_number": version.get("build_number"),
                   **fingerprint["llama_cpp_source"]},
            params={"kind": kind, **params})
        done = serve_records.finished_requests(s, run_id) if reopened else set()
    return run_id, db_path, done


def update_run_params(db_path: str, run_id: int, extra: dict) -> None:
    from vtt import store
    from vtt.store.records import _json

    with store.open_store(db_path) as s:
        run = store.get_run(s, run_id)
        params = {**(run.get("params") or {}), **extra}
        s.execute("UPDATE runs SET params = ? WHERE run_id = ?", [_json(params), run_id])


def save_server_memory(db_path: str, run_id: int, server: LlamaServer) -> dict | None:
    """The buffer sizes llama-server logged at load (model, KV, compute, output), stored for this n_ctx."""
    from vtt import store
    from vtt.harness.memory import parse_memory_log
    from vtt.store import serve_records

    parts = parse_memory_log(server.log_text())
    if not (parts["kv_bytes"] or parts["compute_bytes"]):
        return None
    parts["total_bytes"] = (parts["weights_bytes"] + parts["kv_bytes"] + parts["rs_bytes"] + parts["compute_bytes"]
                            + parts["output_bytes"])
    with store.open_store(db_path) as s:
        serve_records.add_memory(s, run_id, server.n_ctx, "server-log", parts,
                                 {"compute_by_buffer": parts["compute_by_buffer"], "rs_bytes": parts["rs_bytes"]})
    return parts


def run_serve(model: str | Path, workload: Workload, *, label: str | None = None, db=None,
              runtime: Runtime | None = None, resume: bool = False, n_ctx: int | None = None,
              llama_server: str | Path | None = None, extra_args: list[str] | None = None,
              start_timeout_s: float = DEFAULT_START_TIMEOUT_S, request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
              on_request: Callable[[dict], None] | None = None, env: dict | None = None,
              cycles: int = 1, max_requests: int | None = None, max_seconds: float | None = None,
              kind: str = "workload", hardware: str | None = None, backend: str | None = None) -> ServeSummary:
    """Run `workload` against a llama-server started for `model`; every request is stored as it finishes.

    `cycles` > 1 sends the workload again and again (keys 'id#rep@cycle'), stopping early after
    `max_requests` requests or `max_seconds` seconds of serving: the soak test."""
    from vtt import store
    from vtt.store import serve_records

    model = require_model(model)
    binary = str(find_llama_server(llama_server))
    runtime = runtime or load_runtime(None)
    label = label or datetime.now().strftime("serve-%Y%m%d-%H%M%S")
    n_ctx = n_ctx or workload.n_ctx or workload.context_needed()
    run_id, db_path, done = open_serve_run(
        db, label, resume=resume, kind=kind, server_binary=binary,
        params={"workload": workload.id, "workload_spec": workload.model_dump(), "model": str(model),
                "runtime": runtime.id, "n_ctx": n_ctx, "extra_args": extra_args or [], "cycles": cycles,
                "max_requests": max_requests, "max_seconds": max_seconds},
        hardware=hardware, backend=backend)
    planned = [(k if c == 0 else f"{k}@{c}", r, i) for c in range(cycles) for k, r, i in workload.expanded()]
    if max_requests is not None:
        planned = planned[:max_requests]
    todo = [(k, r, i) for k, r, i in planned if k not in done]
    summary = ServeSummary(run_id=run_id, label=label, status="ok", workload=workload.id,
                           requests_total=len(planned), requests_skipped=len(planned) - len(todo), requests_ok=0,
                           requests_failed=0, db=db_path, server_argv=[], http_client="")
    sampler = None
    try:
        with LlamaServer(binary, model, runtime, n_ctx, extra_args=extra_args, start_timeout_s=start_timeout_s,
                         request_timeout_s=request_timeout_s, env=env) as server:
            summary.server_argv = server.argv
            summary.http_client = server.client.library
            update_run_params(db_path, run_id, {"server_argv": server.argv, "server_log": str(server.log_path),
                                                "http_client": server.client.library, "server_start_s": server.start_s})
            summary.memory = save_server_memory(db_path, run_id, server)
            sampler = MemorySampler(server)
            sampler.start()
            prompts = Prompts(server, workload)
            for key, req, _ in todo:
                if max_seconds is not None and sampler.now() >= max_seconds:
                    summary.requests_total = summary.requests_ok + summary.requests_failed + summary.requests_skipped
                    break
                row = send_request(server, prompts, req, key, sampler, timeout_s=request_timeout_s)
                row.update(workload=workload.id, n_ctx=n_ctx)
                with store.open_store(db_path) as s:
                    serve_records.add_request(s, run_id, row)
                    serve_records.add_samples(s, run_id, sampler.take())
                if row["status"] == "ok":
                    summary.requests_ok += 1
                else:
                    summary.requests_failed += 1
                    summary.failures.append({"request": key, "error": row["error"]})
                if on_request:
                    on_request(contract_row(workload.id, row))
                if server.child.poll() is not None:
                    break  # the server died: the rest would fail the same way
    except KeyboardInterrupt:
        summary.status = "interrupted"
    except ServerStartFailed as e:
        summary.status = "failed"
        summary.failures.append({"request": None, "error": f"{e} ({e.kind})", "log_tail": e.log_tail})
    finally:
        if sampler is not None:
            sampler.stop_event.set()
            sampler.join(timeout=2)
            with store.open_store(db_path) as s:
                serve_records.add_samples(s, run_id, sampler.take())
        if summary.status == "ok" and (summary.requests_failed or
                                       summary.requests_ok + summary.requests_skipped < summary.requests_total):
            summary.status = "failed"
        with store.open_store(db_path) as s:
            store.set_run_status(s, run_id, summary.status)
    return summary
