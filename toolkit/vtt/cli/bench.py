"""`vtt bench install` and `vtt bench run`: build llama-bench, run a matrix into the database.

Heavy imports (duckdb, rich) happen inside the commands so `vtt plan` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

bench = typer.Typer(
    help="Build llama-bench and record real measurements in the vtt database.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

# Exit codes of `vtt bench run` (see its --help).
EXIT_CELLS_FAILED = 3
EXIT_INTERRUPTED = 130


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@bench.command("install")
def install(
    backend: str = typer.Option("cpu", "--backend", help="cpu or vulkan (vulkan apt-installs its SDK as root)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Parallel compile jobs (default: all cores)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Build llama-bench from llama.cpp pinned in the PyPI sdist llama-cpp-python==0.3.36, or reuse the cached build.

    The build goes to ${XDG_CACHE_HOME:-~/.cache}/vtt/llama.cpp/build-BACKEND (about 6 min on
    2 cores the first time; seconds afterwards). It also builds llama-fit-params, which prints
    llama.cpp's own memory breakdown. The binaries report build 1, commit 0c1e570.

    Example:
      vtt bench install --backend cpu
    """
    from vtt.harness.locate import install_llama_bench

    console = _stderr_console()
    bars: dict = {}

    def progress(step: str, done: int, total: int) -> None:
        if step not in bars:
            console.print(f"[{step}]")
            bars[step] = -1
        if step == "build" and total and (done * 10 // total) != bars[step]:
            bars[step] = done * 10 // total
            console.print(f"  build step {done}/{total}")

    result = install_llama_bench(backend, jobs=jobs, progress=progress)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    state = "reused cached build" if result["reused"] else "built"
    print(f"llama-bench ({backend}): {state}: {result['llama_bench']}")
    print(f"llama.cpp {result['version']} (build {result['build_number']}, commit {result['build_commit']}) "
          f"from {result['sdist']}")
    if result["run_env"]:
        print("run with: " + " ".join(f"{k}={v}" for k, v in result["run_env"].items()))


@bench.command("run")
def run(
    matrix_file: Optional[Path] = typer.Option(None, "--matrix", help="A matrix YAML (see specs/bench/)."),
    model: Optional[list[Path]] = typer.Option(None, "-m", "--model", help="GGUF model file (repeatable)."),
    n_prompt: Optional[str] = typer.Option(None, "-p", "--n-prompt", help="Prompt lengths, e.g. 512,2048."),
    n_gen: Optional[str] = typer.Option(None, "-n", "--n-gen", help="Generated tokens, e.g. 128."),
    n_depth: Optional[str] = typer.Option(None, "-d", "--n-depth", help="Context depths, e.g. 0,4096."),
    repetitions: Optional[int] = typer.Option(None, "-r", "--repetitions", help="Repetitions per test (default 5)."),
    threads: Optional[str] = typer.Option(None, "-t", "--threads", help="Thread counts, e.g. 1,2."),
    flash_attn: Optional[str] = typer.Option(None, "-fa", "--flash-attn", help="on, off or on,off."),
    n_ubatch: Optional[str] = typer.Option(None, "-ub", "--ubatch-size", help="Micro-batch sizes."),
    n_gpu_layers: Optional[str] = typer.Option(None, "-ngl", "--n-gpu-layers", help="Layers on the GPU."),
    label: Optional[str] = typer.Option(None, "--label", help="Name of this run (default run-DATE-TIME)."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file (default ~/.local/share/vtt/vtt.duckdb)."),
    cell_timeout: Optional[float] = typer.Option(None, "--cell-timeout", help="Seconds before a cell is killed."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run with this --label, skipping finished cells."),
    llama_bench: Optional[Path] = typer.Option(None, "--llama-bench", help="Use this llama-bench (or $VTT_LLAMA_BENCH)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    rpc: Optional[int] = typer.Option(None, "--rpc", help="Split each model over N ggml-rpc-server processes on 127.0.0.1 (llama-bench --rpc); per-device buffers from the -v log are stored with each row."),
    tensor_split: Optional[str] = typer.Option(None, "--tensor-split", "-ts", help="With --rpc: llama.cpp --tensor-split over the servers, e.g. 1,1."),
    rpc_baseline: bool = typer.Option(False, "--rpc-baseline", help="With --rpc: also run each cell without RPC and store the link's measured cost per token."),
    rpc_gpu_each: bool = typer.Option(False, "--rpc-gpu-each", help="With --rpc: server i sees only GPU i (GGML_VK_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES)."),
) -> None:
    """Run llama-bench once per cell (model x parameters x test) and store every sample.

    Give a matrix file, or llama-bench-like flags (comma-separated lists). Rows are written as
    they arrive, so a crash or Ctrl-C loses nothing finished; resume with the same --label.

    Exit status: 0 all cells ok; 2 bad input; 3 llama-bench missing, or some cells failed
    (crash, garbage output, timeout: each recorded with its stderr tail); 130 interrupted.

    Example:
      vtt bench run -m tiny.gguf -p 128 -n 32 -r 5 -t 1,2 --label cpu-threads
      vtt bench run --matrix specs/bench/cpu-smoke.yaml --label nightly --resume
    """
    from vtt.errors import BadQuery
    from vtt.harness.locate import find_llama_bench
    from vtt.harness.matrix import BenchMatrix, expand_cells, load_matrix, parse_bool_list, parse_int_list
    from vtt.harness.run import run_matrix

    flags = {"n_prompt": parse_int_list(n_prompt, "-p"), "n_gen": parse_int_list(n_gen, "-n"),
             "n_depth": parse_int_list(n_depth, "-d"), "repetitions": repetitions,
             "threads": parse_int_list(threads, "-t"), "flash_attn": parse_bool_list(flash_attn, "-fa"),
             "n_ubatch": parse_int_list(n_ubatch, "-ub"), "n_gpu_layers": parse_int_list(n_gpu_layers, "-ngl")}
    flags = {k: v for k, v in flags.items() if v is not None}
    if matrix_file is not None:
        if model:
            raise BadQuery("give either --matrix or -m, not both")
        matrix = load_matrix(matrix_file)
        if flags:
            matrix = matrix.model_copy(update=flags)
        base_dir = matrix_file.parent
    elif model:
        from pydantic import ValidationError

        try:
            matrix = BenchMatrix(models=[str(m) for m in model], **flags)
        except ValidationError as e:
            err = e.errors()[0]
            raise BadQuery(f"bad value for {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        base_dir = None
    else:
        raise BadQuery("nothing to run: give -m MODEL.gguf or --matrix FILE",
                       hint="vtt bench run -m model.gguf -p 512 -n 128")
    cells = expand_cells(matrix, base_dir)
    binary = find_llama_bench(llama_bench)
    if rpc is not None:
        _run_rpc(cells, binary, rpc, tensor_split, rpc_baseline, db, label or matrix.label, cell_timeout, as_json,
                 rpc_gpu_each)
        return

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    console = _stderr_console()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False,
                  auto_refresh=False) as bar:  # no refresh thread: it would steal CPU from llama-bench
        task = bar.add_task("bench", total=None)

        def start(i: int, n: int, cell) -> None:
            bar.update(task, total=n, description=f"{Path(cell.model).name} {cell.test}")
            bar.refresh()

        def done(i: int, n: int, outcome) -> None:
            bar.advance(task)
            bar.refresh()
            if outcome.status != "ok":
                console.print(f"cell failed: {Path(outcome.cell.model).name} {outcome.cell.test}: {outcome.error}")

        summary = run_matrix(cells, llama_bench=str(binary), db=db, label=label or matrix.label, matrix=matrix,
                             cell_timeout_s=cell_timeout, resume=resume, on_cell_start=start, on_cell_done=done)
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(f"run {summary.run_id} '{summary.label}': {summary.status}; {summary.cells_ok} ok, "
              f"{summary.cells_failed} failed, {summary.cells_skipped} skipped of {summary.cells_total} cells "
              f"-> {summary.db}")
    if summary.status == "interrupted":
        print("vtt: interrupted; finished cells are stored, continue with --resume "
              f"--label {summary.label}", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.cells_failed:
        raise typer.Exit(EXIT_CELLS_FAILED)


def _run_rpc(cells, binary, n: int, tensor_split: str | None, baseline: bool, db, label, cell_timeout, as_json,
             gpu_each: bool = False) -> None:
    from datetime import datetime

    from vtt.errors import BadQuery
    from vtt.harness.rpc import run_rpc_cells

    if n < 1:
        raise BadQuery(f"bad --rpc {n}: give the number of rpc-servers (1 or more)")
    ts = None
    if tensor_split:
        try:
            ts = [float(x) for x in tensor_split.replace("/", ",").split(",")]
        except ValueError:
            raise BadQuery(f"bad --tensor-split '{tensor_split}': give numbers like 1,1") from None
        if len(ts) != n:
            raise BadQuery(f"--tensor-split has {len(ts)} entries for {n} rpc-servers")
    console = _stderr_console()
    summary = run_rpc_cells(cells, llama_bench=str(binary), n_servers=n, db=db,
                            label=label or datetime.now().strftime("rpc-%Y%m%d-%H%M%S"), tensor_split=ts,
                            baseline=baseline, cell_timeout_s=cell_timeout, one_gpu_each=gpu_each,
                            on_cell=lambda i, k, c: console.print(f"[{i + 1}/{k}] {Path(c.model).name} {c.test} over {n} rpc-servers"))
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        link, mc = summary["link_measured"], summary["memory_check"]
        print(f"run {summary['run_id']} '{summary['label']}' via {', '.join(summary['rpc_endpoints'])}: "
              f"{summary['cells_ok']} ok, {summary['cells_failed']} failed -> {summary['db']}; per-device memory vs vtt: "
              f"weights exact in {mc['weights_exact']}/{mc['rows']} rows, KV in {mc['kv_exact']}/{mc['rows']}"
              + (f"; link cost {link['ms_per_token_median']:.3f} ms per generated token" if link else ""))
    if summary["cells_failed"]:
        raise typer.Exit(EXIT_CELLS_FAILED)


@bench.command("ops")
def ops(
    backend: str = typer.Option("CPU", "-b", "--backend", help="test-backend-ops backend: CPU, Vulkan0, ROCm0 ..."),
    profile: str = typer.Option("ci", "--profile", help="ci (tiny, CPU), quick (what calibrate --quick runs), catalog (every catalog attention shape), depth (flash attention at KV 4K-64K: this machine's rate against depth)."),
    model: Optional[list[str]] = typer.Option(None, "--model", "-m", help="depth profile: only these catalog models' attention shapes (repeatable; default every catalog model)."),
    kv: Optional[str] = typer.Option(None, "--kv", help="depth profile: KV lengths, comma-separated (default 4096,8192,16384,32768,65536; at least 3 make a curve)."),
    label: Optional[str] = typer.Option(None, "--label", help="Name of this run (default ops-DATE-TIME)."),
    hardware: Optional[str] = typer.Option(None, "--hardware", help="Hardware spec id the rows describe (for vtt calibrate)."),
    vtt_backend: Optional[str] = typer.Option(None, "--vtt-backend", help="vtt backend id the rows describe (vulkan-nvidia ...)."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file (default ~/.local/share/vtt/vtt.duckdb)."),
    binary: Optional[Path] = typer.Option(None, "--binary", help="Use this test-backend-ops (or $VTT_TEST_BACKEND_OPS, $LLAMA_BIN_DIR)."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds for the whole run; the child is killed after."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per result, then the summary."),
) -> None:
    """Run llama.cpp's operator benchmark (test-backend-ops perf) for FLASH_ATTN_EXT, MUL_MAT and
    MUL_MAT_ID at the catalog's shapes, and store every result with the machine fingerprint.

    MUL_MAT and FLASH_ATTN_EXT shapes are written to a --test-file (the pinned test-backend-ops
    takes no shapes on its command line); MUL_MAT_ID uses its built-in perf cases filtered with -p.

    Exit status: 0 ok; 2 bad input; 3 test-backend-ops missing, or no result came back.

    The depth profile times flash attention alone at KV 4K-64K. Its rate at each length over the rate
    at 4K is printed per shape; `vtt calibrate` stores it as a depth curve, which `vtt plan` then uses
    for prompts at depth on models of that shape (vtt.cost.depth_curve): the measurement for a machine
    whose attention slows down with depth (stock llama.cpp on RADV does; see validation/fa_depth).

    Example:
      vtt bench ops -b CPU --profile ci --label ci-ops
      vtt bench ops -b Vulkan0 --profile quick --hardware h200-141 --vtt-backend vulkan-nvidia
      vtt bench ops -b Vulkan0 --profile depth -m qwen3.6-27b -m qwen3.6-35b-a3b --hardware strix-halo-128 --vtt-backend vulkan-radv
    """
    from vtt.errors import BadQuery, EnvironmentProblem
    from vtt.harness.ops import bench_ops, op_cases

    if (model or kv) and profile != "depth":
        raise BadQuery("--model and --kv shape the depth profile only", hint="add --profile depth")
    kvs = None
    if kv:
        try:
            kvs = [int(x) for x in kv.split(",") if x.strip()]
        except ValueError:
            raise BadQuery(f"bad --kv '{kv}': give KV lengths as integers, e.g. 4096,16384,65536") from None
        if not kvs or min(kvs) < 1 or max(kvs) > 1 << 22:
            raise BadQuery(f"bad --kv '{kv}': lengths from 1 to {1 << 22}")
    cases = op_cases(profile, models=model, kvs=kvs)

    collected: list[dict] = []

    def show(rec: dict) -> None:
        collected.append(rec)
        if as_json:
            print(json.dumps(rec), flush=True)

    summary = bench_ops(cases, backend=backend, db=db, label=label, hardware=hardware, vtt_backend=vtt_backend,
                        binary=binary, timeout_s=timeout, on_result=show)
    if as_json:
        print(json.dumps({"summary": summary}))
    else:
        print(f"ops run {summary['run_id']} '{summary['label']}': {summary['supported']} of {summary['cases']} "
              f"cases measured on {backend} in {summary['wall_s']:.1f} s -> {summary['db']}")
        for f in summary["failed"]:
            print(f"  {f}", file=sys.stderr)
        if profile == "depth":
            _print_depth_curves(collected)
    if not summary["results"]:
        raise EnvironmentProblem(f"test-backend-ops returned no results on backend {backend}",
                                 code="ops_no_results", hint="; ".join(summary["failed"]) or "check -b (CPU, Vulkan0 ...)")


def _print_depth_curves(rows: list[dict]) -> None:
    """Per shape: flash attention's seconds per FLOP at each KV length over those at the shortest."""
    from vtt.cost.depth_curve import curves_from_ops

    curves = curves_from_ops(rows)
    if not curves:
        print("  no shape has 3 KV lengths measured: no depth curve")
        return
    kvs = sorted({k for c in curves for k in c["n_kv"]})
    print("  time per FLOP against the shortest KV (1.00 = vtt's linear charge holds):")
    label = [f"{k // 1024}K" if k % 1024 == 0 else str(k) for k in kvs]
    print("  " + f"{'shape (K/V width, heads/KV heads)':34s}" + "".join(f"{x:>7s}" for x in label))
    for c in curves:
        s = dict(zip(c["n_kv"], c["slowdown"]))
        print("  " + f"{c['geometry']:34s}" + "".join(f"{s[k]:7.2f}" if k in s else "      -" for k in kvs))


# Exit codes of `vtt bench serve` (see its --help).
EXIT_SERVE_FAILED = 3


def _exit_for(status: str) -> None:
    """A serve command's exit status: 130 interrupted (what finished is stored), 3 a failed run."""
    if status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    if status != "ok":
        raise typer.Exit(EXIT_SERVE_FAILED)


@bench.command("serve")
def serve(
    model: Path = typer.Option(..., "-m", "--model", help="GGUF model file the server loads."),
    workload: str = typer.Option("smoke", "--workload", "-w", help="Built-in workload name (specs/bench/workloads/) or a YAML file."),
    label: Optional[str] = typer.Option(None, "--label", help="Name of this run (default serve-DATE-TIME)."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file (default ~/.local/share/vtt/vtt.duckdb)."),
    runtime: Optional[str] = typer.Option(None, "--runtime", help="Runtime profile (specs/runtimes/), default llama-cpp-defaults."),
    n_ctx: Optional[int] = typer.Option(None, "-c", "--ctx-size", help="Context per slot (default: the workload's largest request)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run with this --label, skipping finished requests."),
    server_arg: Optional[list[str]] = typer.Option(None, "--server-arg", help="Extra llama-server argument (repeatable), e.g. --server-arg=-ngl --server-arg=99."),
    llama_server: Optional[Path] = typer.Option(None, "--llama-server", help="Use this llama-server (or $VTT_LLAMA_SERVER, $LLAMA_BIN_DIR)."),
    start_timeout: float = typer.Option(300.0, "--start-timeout", help="Seconds to wait for the server's /health."),
    request_timeout: float = typer.Option(600.0, "--request-timeout", help="Seconds before one request is given up."),
    hardware: Optional[str] = typer.Option(None, "--hardware", help="Hardware id this machine is (for vtt drift --against-prediction)."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Backend id of this llama-server (for --against-prediction)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per finished request on stdout (the summary goes to stderr)."),
) -> None:
    """Start a real llama-server, send a workload's streamed chat requests, store every request.

    Per request: TTFT (send -> first streamed token), decode tokens/s (the server's own timings;
    the client-side stream rate is stored beside it),
    prompt tokens served from the server's cache, end-to-end seconds, the server's own `timings`, and
    the server's RSS (plus device memory where nvidia-smi or amdgpu sysfs exist) sampled over time.
    The server listens on 127.0.0.1 on a free port and is always stopped (success, failure, timeout,
    Ctrl-C, SIGTERM; its death signal covers kill -9 of vtt).

    Exit status: 0 all requests ok; 2 bad input; 3 llama-server missing, failed to start or some
    requests failed; 130 interrupted (resume with --resume and the same --label).

    Example:
      vtt bench serve -m chat.gguf --workload smoke --label s1 --json
      vtt bench serve -m model.gguf --workload modes --runtime server-4-slots --label modes-1
    """
    from vtt.harness.serve import load_runtime, run_serve
    from vtt.specs.workload import load_workload

    wl = load_workload(workload)
    profile = load_runtime(runtime)
    console = _stderr_console()

    def on_request(row: dict) -> None:
        if as_json:
            print(json.dumps(row), flush=True)
        else:
            if row["status"] == "ok":
                console.print(f"{row['request']}: prompt {row['prompt_tokens']} (cached {row['cached_tokens']}), "
                              f"out {row['output_tokens']}, TTFT {row['ttft_s']:.3f} s, {row['decode_tps']:.1f} t/s, "
                              f"RSS {row['rss_mib']} MiB")
            else:
                console.print(f"{row['request']}: failed: {row['error']}")

    summary = run_serve(model, wl, label=label, db=db, runtime=profile, resume=resume, n_ctx=n_ctx,
                        llama_server=llama_server, extra_args=list(server_arg or []),
                        start_timeout_s=start_timeout, request_timeout_s=request_timeout, on_request=on_request,
                        hardware=hardware, backend=backend)
    # stdout carries only request rows under --json (design.md); the summary goes to stderr
    print(f"serve run {summary.run_id} '{summary.label}': {summary.status}; {summary.requests_ok} ok, "
              f"{summary.requests_failed} failed, {summary.requests_skipped} skipped of {summary.requests_total} "
              f"requests ({summary.workload}, {summary.http_client}) -> {summary.db}",
          file=sys.stderr if as_json else sys.stdout)
    for f in summary.failures:
        print(f"vtt: {f['request'] or 'server'}: {f['error']}", file=sys.stderr)
        if f.get("log_tail"):
            print(f["log_tail"], file=sys.stderr)
    if summary.status == "interrupted":
        print(f"vtt: interrupted; finished requests are stored, continue with --resume --label {summary.label}",
              file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.status != "ok":
        raise typer.Exit(EXIT_SERVE_FAILED)


def _int_list(text: str, flag: str) -> list[int]:
    from vtt.errors import BadQuery

    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BadQuery(f"{flag} takes comma-separated integers, got '{text}'") from None
    if not values or min(values) <= 0:
        raise BadQuery(f"{flag} needs positive integers, got '{text}'")
    return values


def _bytes(text: Optional[str]) -> Optional[int]:
    if text is None:
        return None
    from vtt.errors import BadQuery

    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    t = text.strip().lower().rstrip("ib").rstrip("b")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise BadQuery(f"bad size '{text}' (e.g. 512M, 2G)") from None


@bench.command("serve-memory")
def serve_memory(
    model: Path = typer.Option(..., "-m", "--model", help="GGUF model file."),
    contexts: str = typer.Option("4096,16384,32768", "--contexts", "-c", help="Context levels (per slot), comma-separated."),
    label: Optional[str] = typer.Option(None, "--label", help="Name of this run."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file."),
    runtime: Optional[str] = typer.Option(None, "--runtime", help="Runtime profile (specs/runtimes/)."),
    hardware: Optional[str] = typer.Option(None, "--hardware", help="Hardware id for vtt's prediction."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Backend id for vtt's prediction."),
    server_arg: Optional[list[str]] = typer.Option(None, "--server-arg", help="Extra llama-server argument (repeatable)."),
    llama_server: Optional[Path] = typer.Option(None, "--llama-server", help="Use this llama-server."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per context level on stdout."),
) -> None:
    """Memory per context (seed test 4): llama-server's own buffers, llama-fit-params and vtt's answer.

    At each level a real server starts and its logged buffer sizes (model, KV, compute, output) and
    idle RSS are stored beside llama-fit-params' projection and `vtt plan`'s prediction.

    Example:
      vtt bench serve-memory -m chat.gguf --contexts 1024,4096,16384 --label mem1 --json
    """
    from datetime import datetime

    from vtt.harness.serve import load_runtime
    from vtt.harness.serve_memory import memory_sweep

    def show(level: dict) -> None:
        if as_json:
            print(json.dumps(level, default=str), flush=True)
            return
        srv, plan = level.get("server", {}), level.get("vtt_plan", {})
        mib = lambda b: f"{b / 2**20:.1f}" if isinstance(b, (int, float)) else "-"  # noqa: E731
        print(f"n_ctx {level['n_ctx']}: server total {mib(srv.get('total_bytes'))} MiB "
              f"(KV {mib(srv.get('kv_bytes'))}, compute {mib(srv.get('compute_bytes'))}); "
              f"fit-params {mib(level.get('fit_params', {}).get('total_bytes'))}; "
              f"vtt {mib(plan.get('total_bytes'))} (KV {mib(plan.get('kv_bytes'))}, compute {mib(plan.get('compute_bytes'))}); "
              f"RSS {mib(level.get('rss_bytes'))}")

    out = memory_sweep(model, _int_list(contexts, "--contexts"), runtime=load_runtime(runtime),
                       label=label or datetime.now().strftime("serve-memory-%Y%m%d-%H%M%S"), db=db,
                       llama_server=llama_server, extra_args=list(server_arg or []), hardware=hardware,
                       backend=backend, on_level=show)
    print(f"memory run {out['run_id']} '{out['label']}': {out['status']} -> {out['db']}", file=sys.stderr)
    _exit_for(out["status"])


@bench.command("serve-stress")
def serve_stress(
    model: Path = typer.Option(..., "-m", "--model", help="GGUF model file."),
    lo: int = typer.Option(512, "--min-ctx", help="Smallest context tried."),
    hi: Optional[int] = typer.Option(None, "--max-ctx", help="Largest context tried (default: the GGUF's trained context)."),
    step: int = typer.Option(256, "--step", help="Search granularity in tokens."),
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit", help="Cap the server's address space (RLIMIT_AS), e.g. 2G: a smaller machine."),
    label: Optional[str] = typer.Option(None, "--label", help="Name of this run."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file."),
    runtime: Optional[str] = typer.Option(None, "--runtime", help="Runtime profile (specs/runtimes/)."),
    hardware: Optional[str] = typer.Option(None, "--hardware", help="Hardware id for vtt's fit prediction."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Backend id for vtt's fit prediction."),
    server_arg: Optional[list[str]] = typer.Option(None, "--server-arg", help="Extra llama-server argument (repeatable)."),
    llama_server: Optional[Path] = typer.Option(None, "--llama-server", help="Use this llama-server."),
    start_timeout: float = typer.Option(300.0, "--start-timeout", help="Seconds to wait for /health per probe."),
    request_timeout: float = typer.Option(600.0, "--request-timeout", help="Seconds for the filling request per probe."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per probe on stdout, then the summary."),
) -> None:
    """Context stress (seed test 7): the largest context that loads and serves a request filling it.

    Bisection with real server starts; each probe is stored with how it ended (ok, alloc_error,
    load_failed, timeout, request_failed) and compared with the largest context vtt predicts fits.

    Example:
      vtt bench serve-stress -m chat.gguf --min-ctx 1024 --max-ctx 32768 --memory-limit 300M --label st1
    """
    from datetime import datetime

    from vtt.harness.serve import load_runtime
    from vtt.harness.serve_memory import context_stress

    def show(p: dict) -> None:
        if as_json:
            print(json.dumps({"probe": p}, default=str), flush=True)
        else:
            print(f"n_ctx {p['n_ctx']}: {p['outcome']} in {p['seconds']:.1f} s" +
                  (f" ({p['error']})" if p.get("error") else ""), file=sys.stderr)

    out = context_stress(model, runtime=load_runtime(runtime), label=label or datetime.now().strftime("serve-stress-%Y%m%d-%H%M%S"),
                         db=db, lo=lo, hi=hi, step=step, llama_server=llama_server, extra_args=list(server_arg or []),
                         hardware=hardware, backend=backend, start_timeout_s=start_timeout,
                         request_timeout_s=request_timeout, memory_limit_bytes=_bytes(memory_limit), on_probe=show)
    s = out["summary"]
    if as_json:
        print(json.dumps({"summary": s}, default=str))
    else:
        print(f"largest context that serves a full request: {s['largest_ok']}; first failing: {s['first_failing']} "
              f"({s['failure']}); vtt predicts {s['vtt']['largest_fit']}")
    if out["status"] == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)


@bench.command("serve-soak")
def serve_soak(
    model: Path = typer.Option(..., "-m", "--model", help="GGUF model file."),
    workload: str = typer.Option("modes-small", "--workload", "-w", help="Workload sent again and again."),
    requests: Optional[int] = typer.Option(None, "--requests", "-n", help="Stop after N requests."),
    minutes: Optional[float] = typer.Option(None, "--minutes", help="Stop after M minutes of serving."),
    leak_threshold: float = typer.Option(64.0, "--leak-mib-per-h", help="Memory growth that counts as a leak (MiB/h)."),
    slowdown_threshold: float = typer.Option(10.0, "--slowdown-pct-per-h", help="Decode speed loss that counts as a slowdown (%/h)."),
    fail_on_slowdown: bool = typer.Option(False, "--fail-on-slowdown", help="Exit 1 on a slowdown too, not only on a leak."),
    label: Optional[str] = typer.Option(None, "--label", help="Name of this run."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file."),
    runtime: Optional[str] = typer.Option(None, "--runtime", help="Runtime profile (specs/runtimes/)."),
    server_arg: Optional[list[str]] = typer.Option(None, "--server-arg", help="Extra llama-server argument (repeatable)."),
    llama_server: Optional[Path] = typer.Option(None, "--llama-server", help="Use this llama-server."),
    request_timeout: float = typer.Option(600.0, "--request-timeout", help="Seconds before one request is given up."),
    as_json: bool = typer.Option(False, "--json", help="Request rows on stdout, then {\"soak\": verdict and slopes}."),
) -> None:
    """Soak (seed test 8): N requests or M minutes of mixed mode requests; leak and slowdown by trend.

    Least-squares slopes with 95% intervals of server RSS (and device memory) and of decode tokens/s
    over time, after a warm-up pass. A leak: the whole interval above --leak-mib-per-h.

    Exit status: 0 no leak; 1 a leak (or a slowdown with --fail-on-slowdown); 3 requests failed.

    Example:
      vtt bench serve-soak -m model.gguf --workload modes --minutes 30 --label soak-b1234
    """
    from datetime import datetime

    from vtt.harness.serve import load_runtime
    from vtt.harness.serve_soak import run_soak
    from vtt.specs.workload import load_workload

    def on_request(row: dict) -> None:
        if as_json:
            print(json.dumps(row), flush=True)

    out = run_soak(model, load_workload(workload), label=label or datetime.now().strftime("serve-soak-%Y%m%d-%H%M%S"),
                   db=db, runtime=load_runtime(runtime), requests=requests, minutes=minutes,
                   leak_mib_per_h=leak_threshold, slowdown_pct_per_h=slowdown_threshold, on_request=on_request,
                   extra_args=list(server_arg or []), llama_server=llama_server, request_timeout_s=request_timeout)
    soak = out["soak"]
    if as_json:
        print(json.dumps({"soak": soak}, default=str))
    else:
        rss = soak.get("rss_mib_per_h", {})
        tps = soak.get("decode_tps_pct_per_h", {})
        print(f"soak '{out['serve']['label']}': {soak['verdict']}; {soak['requests']} requests; RSS slope "
              f"{rss.get('slope')} MiB/h [{rss.get('lo')}, {rss.get('hi')}]; decode t/s slope {tps.get('slope')} %/h "
              f"[{tps.get('lo')}, {tps.get('hi')}]")
    if out["serve"]["status"] == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    if soak["leak"] or (fail_on_slowdown and soak["slowdown"]):
        raise typer.Exit(1)
    if out["serve"]["status"] != "ok":
        raise typer.Exit(EXIT_SERVE_FAILED)


@bench.command("serve-load")
def serve_load(
    model: Path = typer.Option(..., "-m", "--model", help="GGUF model file."),
    background: str = typer.Option("compile", "--background", help="compile (CPU + allocation churn) or membw (memory-bandwidth hog)."),
    parallel: int = typer.Option(1, "--parallel", "-np", help="Server slots and concurrent clients."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Background processes (default: all cores)."),
    workload: str = typer.Option("smoke", "--workload", "-w", help="Workload sent quiet, then under load."),
    label: Optional[str] = typer.Option(None, "--label", help="Name of this run."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file."),
    runtime: Optional[str] = typer.Option(None, "--runtime", help="Runtime profile (specs/runtimes/); -np overrides its slots."),
    server_arg: Optional[list[str]] = typer.Option(None, "--server-arg", help="Extra llama-server argument (repeatable)."),
    llama_server: Optional[Path] = typer.Option(None, "--llama-server", help="Use this llama-server."),
    as_json: bool = typer.Option(False, "--json", help="Request rows on stdout, then {\"load\": slowdowns}."),
) -> None:
    """Concurrent load (seed test 9): requests quiet, then while a declared background job runs.

    Stores the slowdown (decode t/s, TTFT) and the background job's peak RSS as a `load` summary the
    optimizer's other_work policy can read. The background job is bounded in time and always killed.

    Example:
      vtt bench serve-load -m model.gguf --background compile --parallel 2 --label load-1
    """
    from vtt.harness.serve import load_runtime
    from vtt.harness.serve_load import run_load
    from vtt.specs.workload import load_workload

    def on_request(row: dict) -> None:
        if as_json:
            print(json.dumps(row), flush=True)

    out = run_load(model, load_workload(workload), runtime=load_runtime(runtime), background=background,
                   parallel=parallel, label=label, db=db, workers=workers, llama_server=llama_server,
                   extra_args=list(server_arg or []), on_request=on_request)
    r = out["load"]
    if as_json:
        print(json.dumps({"load": r}, default=str))
    elif r:
        fmt = lambda x: f"{x:+.1%}" if x is not None else "-"  # noqa: E731
        print(f"load '{out['label']}' ({background}, {r['workers']} workers, {parallel} slots): decode slowdown "
              f"{fmt(r['decode_slowdown'])}, TTFT slowdown {fmt(r['ttft_slowdown'])}; background peak RSS "
              f"{r['other_work_gib']} GiB")
    _exit_for(out["status"])


@bench.command("serve-quality")
def serve_quality(
    model: Optional[Path] = typer.Option(None, "-m", "--model", help="GGUF model file (vtt starts llama-server)."),
    url: Optional[str] = typer.Option(None, "--url", help="Any OpenAI-compatible endpoint instead, e.g. http://127.0.0.1:8080."),
    served_model: Optional[str] = typer.Option(None, "--served-model", help="The `model` field sent to the endpoint."),
    suite: str = typer.Option("coding", "--suite", help="Built-in suite (specs/bench/quality/) or a YAML file."),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Answer length limit per task."),
    label: Optional[str] = typer.Option(None, "--label", help="Name of this run."),
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file."),
    runtime: Optional[str] = typer.Option(None, "--runtime", help="Runtime profile (with -m)."),
    server_arg: Optional[list[str]] = typer.Option(None, "--server-arg", help="Extra llama-server argument (repeatable)."),
    llama_server: Optional[Path] = typer.Option(None, "--llama-server", help="Use this llama-server."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per task on stdout, then {\"quality\": score}."),
) -> None:
    """Code-quality probes (seed test 6): a versioned suite of coding tasks, scored per model + quant.

    Completion answers run against the task's tests in a sandboxed subprocess (CPU time, memory and
    file-size limits, wall timeout, empty folder); bug answers are checked against the known line.
    The suite checks its own reference answers first. A random-weight model scores about 0.

    Example:
      vtt bench serve-quality -m model.gguf --label q1
      vtt bench serve-quality --url http://127.0.0.1:8080 --served-model qwen --label q2
    """
    from datetime import datetime

    from vtt.harness.serve import load_runtime
    from vtt.harness.serve_quality import load_suite, run_quality

    def on_task(row: dict) -> None:
        if as_json:
            print(json.dumps(row), flush=True)
        else:
            print(f"{row['task']}: {'pass' if row['passed'] else 'fail'} ({row['reason']})", file=sys.stderr)

    out = run_quality(load_suite(suite), label=label or datetime.now().strftime("serve-quality-%Y%m%d-%H%M%S"), db=db,
                      model=model, url=url, served_model=served_model, runtime=load_runtime(runtime),
                      max_tokens=max_tokens, llama_server=llama_server, extra_args=list(server_arg or []),
                      on_task=on_task)
    q = out["quality"]
    if as_json:
        print(json.dumps({"quality": q}, default=str))
    else:
        print(f"quality '{out['label']}': {q['suite']} v{q['suite_version']} on {q['model']} ({q['quant']}): "
              f"{q['passed']}/{q['total']} passed")
    if out["status"] == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
