"""`vtt plan`: what a model costs (memory, pp/tg speed, time to first token) before you download it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vtt.errors import BadQuery


def plan(
    model: Annotated[Optional[str], typer.Argument(help="catalog id or alias (glm-4.7-flash), a seed name (GLM-4.7-Flash-Q8), a GGUF file name, a local .gguf path, or an http(s) URL of a .gguf (header read with Range requests)")] = None,
    quant: Annotated[Optional[str], typer.Option("--quant", "-q", help="file type: Q8_0, Q4_K_M, UD-Q4_K_XL, MXFP4, BF16 ... (default: from the name, else the model's first known file)")] = None,
    context: Annotated[int, typer.Option("--context", "-c", help="context size (llama-server -c)")] = 4096,
    depth: Annotated[int, typer.Option("--depth", "-d", help="tokens already in the KV cache (llama-bench -d)")] = 0,
    n_prompt: Annotated[int, typer.Option("--n-prompt", "-p", help="prompt tokens to process (llama-bench -p)")] = 512,
    n_gen: Annotated[int, typer.Option("--n-gen", "-n", help="tokens to generate (llama-bench -n)")] = 128,
    hardware: Annotated[Optional[str], typer.Option("--hardware", help="hardware spec id")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="vulkan-radv, vulkan-amdvlk, rocm, cpu ... (default: the hardware's)")] = None,
    runtime: Annotated[Optional[str], typer.Option("--runtime", help="a runtime profile (vtt catalog runtimes): llama-cpp-defaults, strix-halo-toolbox, kv-q8, server-4-slots ...; flags below override it")] = None,
    flash_attn: Annotated[Optional[bool], typer.Option("--flash-attn/--no-flash-attn", help="llama.cpp -fa (default on)")] = None,
    n_ubatch: Annotated[Optional[int], typer.Option("--n-ubatch", help="physical batch (-ub, default 512)")] = None,
    kv_type: Annotated[Optional[str], typer.Option("--kv-type", help="KV cache type for K and V: f16, q8_0, q4_0 ...")] = None,
    parallel: Annotated[Optional[int], typer.Option("--parallel", "-np", help="parallel sequences (slots, default 1)")] = None,
    kv_unified: Annotated[bool, typer.Option("--kv-unified", help="slots share one KV stream (llama-server -kvu)")] = False,
    swa_full: Annotated[bool, typer.Option("--swa-full", help="full-size cache for sliding-window layers")] = False,
    mla_v_less: Annotated[bool, typer.Option("--mla-v-less", help="MLA models (DeepSeek, GLM-4.7-Flash): llama.cpp builds since 2026-01-24 (PR #19067) cache K only; default is the older K+V layout")] = False,
    file_size_gib: Annotated[Optional[float], typer.Option("--file-size-gib", help="the file size a download page lists, when the catalog lacks this quant")] = None,
    calibration: Annotated[Optional[str], typer.Option("--calibration", help="calibration id (default: newest for hardware x backend)")] = None,
    boxes: Annotated[Optional[int], typer.Option("--boxes", help="split the model over N identical boxes with llama.cpp RPC (answers per device)")] = None,
    cluster: Annotated[Optional[str], typer.Option("--cluster", help="a cluster spec id (specs/clusters): boxes, their hardware, and the link")] = None,
    link: Annotated[Optional[str], typer.Option("--link", help="link between the boxes for --boxes: 10gbe (default), 5gbe, 2.5gbe, usb4-net, loopback")] = None,
    tensor_split: Annotated[Optional[str], typer.Option("--tensor-split", "-ts", help="llama.cpp --tensor-split over the devices, e.g. 3,2")] = None,
    batch: Annotated[Optional[Path], typer.Option("--batch", help="JSONL file, one query per line (keys as the flags: model, quant, context, depth, n_prompt, n_gen, hardware, backend ...); '-' reads stdin")] = None,
    sweep: Annotated[Optional[str], typer.Option("--sweep", help="answer a curve: 'context' (4K up to the trained context) or 'depth' (0 up to the context)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object per answer (JSON lines)")] = False,
):
    """Predict weights, KV cache, compute buffer, total memory vs budget, pp/tg tokens/s and TTFT.

    pp_tps and tg_tps mean what llama-bench reports for -p N_PROMPT -n N_GEN -d DEPTH.

    Examples:

      vtt plan glm-4.7-flash --quant Q8_0 --context 65536

      vtt plan GLM-4.7-Flash-Q8 -c 131072 --depth 32768 --json

      vtt plan Qwen3-Coder-30B-A3B-Instruct-UD-Q4_K_XL-00001-of-00002.gguf --sweep context

      vtt plan https://host/model.gguf -c 32768

      vtt plan gpt-oss-120b -c 131072 --runtime server-4-slots

      vtt plan --batch queries.jsonl --json
    """
    from vtt.plan import plan_many

    if batch is not None:
        answers = plan_many(_read_batch(batch))
        _emit(answers, json_out or True)  # a batch always answers in JSON lines
        return
    if model is None:
        raise BadQuery("give a MODEL, or --batch FILE", hint="example: vtt plan glm-4.7-flash --quant Q8_0 --context 65536")
    base = dict(model=model, quant=quant, context=context, depth=depth, n_prompt=n_prompt, n_gen=n_gen,
                hardware=hardware, backend=backend, flash_attn=flash_attn, n_ubatch=n_ubatch, kv_type=kv_type,
                parallel=parallel, mla_v_less=mla_v_less or None, kv_unified=kv_unified or None,
                swa_full=swa_full or None, runtime=runtime, file_size_gib=file_size_gib, calibration=calibration,
                boxes=boxes, cluster=cluster, link=link, tensor_split=_split_arg(tensor_split))
    queries = _sweep(base, sweep) if sweep else [base]
    answers = plan_many(queries)
    errors = [a for a in answers if "error" in a]
    if len(queries) == 1 and errors:
        from vtt.errors import VttError

        e = errors[0]["error"]
        err = VttError(e["message"], hint=e.get("hint"), code=e["code"])
        err.exit_code = 3 if e["code"] == "remote_unreachable" else 2
        raise err
    _emit(answers, json_out)


def _split_arg(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(x) for x in text.replace("/", ",").split(",")]
    except ValueError:
        raise BadQuery(f"bad --tensor-split '{text}': give numbers like 3,2") from None


def _read_batch(path: Path) -> list:
    text = sys.stdin.read() if str(path) == "-" else _read_text(path)
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            out.append({"__bad_line__": f"line {n}: not JSON ({e.msg})"})
    return out


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as e:
        raise BadQuery(f"cannot read batch file {path}: {e.strerror}") from None


def _sweep(base: dict, axis: str) -> list[dict]:
    if axis == "context":
        from vtt.plan import resolve_model
        from vtt.specs.catalog import default_world

        top = resolve_model(default_world(), base["model"], base["quant"], base["file_size_gib"]).arch.n_ctx_train
        ctxs, c = [], 4096
        while c < top:
            ctxs.append(c)
            c *= 2
        ctxs.append(top)
        return [{**base, "context": c, "depth": min(base["depth"], c - base["n_prompt"])} for c in ctxs]
    if axis == "depth":
        ctx = base["context"]
        depths, d = [0], 4096
        while d + base["n_prompt"] <= ctx:
            depths.append(d)
            d *= 2
        return [{**base, "depth": d} for d in depths]
    raise BadQuery(f"bad sweep '{axis}': use 'context' or 'depth'")


def _emit(answers: list[dict], json_out: bool) -> None:
    if json_out:
        sys.stdout.write("".join(json.dumps(a) + "\n" for a in answers))
        return
    from vtt.cli.render import render_plan

    render_plan(answers)
    for a in answers:  # a split over boxes: one line per llama.cpp device, then the network's cost
        for d in a.get("devices") or []:
            print(f"  {d['device']:<8} {d['box']:<6} layers {d['layers']}{' +output' if d['output_layer'] else ''}: "
                  f"weights {d['weights_gib']:.2f} + KV {d['kv_cache_gib']:.2f} + compute {d['compute_buffer_gib']:.2f}"
                  f"{' + host %.2f' % d['host_gib'] if d['host_gib'] else ''} = {d['total_gib']:.2f} of {d['budget_gib']:.1f} GiB"
                  f" {'fits' if d['fits'] else 'DOES NOT FIT'}")
        if a.get("network"):
            n = a["network"]
            print(f"  network ({a['link']}): tg +{n['tg_ms_per_token']:.3f} ms/token (transfer {n['tg_transfer_ms']:.3f}, "
                  f"round trips {n['tg_round_trip_ms']:.3f}, rpc-server {n['tg_rpc_graph_ms']:.3f}, device sync "
                  f"{n['tg_device_sync_ms']:.3f}); pp +{n['pp_s']:.4f} s; "
                  f"one box would run tg {a['tg_tps_one_box']}, pp {a['pp_tps_one_box']}")
