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
    profile: str = typer.Option("ci", "--profile", help="ci (tiny, CPU), quick (what calibrate --quick runs), catalog (every catalog attention shape)."),
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

    Example:
      vtt bench ops -b CPU --profile ci --label ci-ops
      vtt bench ops -b Vulkan0 --profile quick --hardware h200-141 --vtt-backend vulkan-nvidia
    """
    from vtt.errors import EnvironmentProblem
    from vtt.harness.ops import bench_ops, op_cases

    cases = op_cases(profile)

    def show(rec: dict) -> None:
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
    if not summary["results"]:
        raise EnvironmentProblem(f"test-backend-ops returned no results on backend {backend}",
                                 code="ops_no_results", hint="; ".join(summary["failed"]) or "check -b (CPU, Vulkan0 ...)")
