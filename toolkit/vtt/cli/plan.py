"""`vtt plan`: what a model costs (memory, pp/tg speed, time to first token) before you download it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vtt.errors import BadQuery


def plan(
    model: Annotated[Optional[str], typer.Argument(help="catalog id or alias (glm-4.7-flash), a seed name (GLM-4.7-Flash-Q8), a GGUF file name, a local .gguf path, an http(s) URL of a .gguf (header read with Range requests), or hf.co/user/repo[:quant]")] = None,
    hf_repo: Annotated[Optional[str], typer.Option("-hf", "--hf-repo", help="a Hugging Face repository, as llama.cpp's -hf: user/repo[:quant] (default quant Q4_K_M, else the first .gguf); the header is read by Range requests; HF_TOKEN is sent for gated repositories; HF_ENDPOINT sets the Hub")] = None,
    quant: Annotated[Optional[str], typer.Option("--quant", "-q", help="file type: Q8_0, Q4_K_M, UD-Q4_K_XL, MXFP4, BF16 ... (default: from the name, else the model's first known file)")] = None,
    context: Annotated[Optional[int], typer.Option("--context", "-c", help="context size (llama-server -c; default 4096, for a request what it needs)")] = None,
    depth: Annotated[Optional[int], typer.Option("--depth", "-d", help="tokens already in the KV cache (llama-bench -d, default 0)")] = None,
    n_prompt: Annotated[Optional[int], typer.Option("--n-prompt", "-p", help="prompt tokens to process (llama-bench -p, default 512; 0: no prompt test)")] = None,
    n_gen: Annotated[Optional[int], typer.Option("--n-gen", "-n", help="tokens to generate (llama-bench -n, default 128; 0: no generation test)")] = None,
    request: Annotated[bool, typer.Option("--request", help="answer one request: TTFT (prefill of the prompt tokens after the cached ones), generation from there on, end to end")] = False,
    cached_tokens: Annotated[Optional[int], typer.Option("--cached-tokens", help="request: tokens already in the KV cache (prompt-cache prefix; default 0)")] = None,
    prompt_tokens: Annotated[Optional[int], typer.Option("--prompt-tokens", help="request: new prompt tokens to prefill")] = None,
    output_tokens: Annotated[Optional[int], typer.Option("--output-tokens", help="request: tokens to generate")] = None,
    mode: Annotated[Optional[str], typer.Option("--mode", help="request preset EDITOR/MODE from specs/modes (roo/ask, claude-code/edit ...; vtt catalog modes)")] = None,
    build: Annotated[Optional[int], typer.Option("--build", help="llama.cpp build number the answer is for (echoed as 'build')")] = None,
    hardware: Annotated[Optional[str], typer.Option("--hardware", help="hardware spec id")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="vulkan-radv, vulkan-amdvlk, rocm, cpu ... (default: the hardware's)")] = None,
    runtime: Annotated[Optional[str], typer.Option("--runtime", help="a runtime profile (vtt catalog runtimes): llama-cpp-defaults, strix-halo-toolbox, kv-q8, server-4-slots ...; flags below override it")] = None,
    flash_attn: Annotated[Optional[bool], typer.Option("--flash-attn/--no-flash-attn", help="llama.cpp -fa (default on)")] = None,
    n_ubatch: Annotated[Optional[int], typer.Option("--n-ubatch", help="physical batch (-ub, default 512)")] = None,
    kv_type: Annotated[Optional[str], typer.Option("--kv-type", help="KV cache type for K and V: f16, q8_0, q4_0 ...")] = None,
    parallel: Annotated[Optional[int], typer.Option("--parallel", "-np", help="parallel sequences (slots, default 1)")] = None,
    kv_unified: Annotated[bool, typer.Option("--kv-unified", help="slots share one KV stream (llama-server -kvu)")] = False,
    swa_full: Annotated[bool, typer.Option("--swa-full", help="full-size cache for sliding-window layers")] = False,
    mla_kv_full: Annotated[bool, typer.Option("--mla-kv-full", help="MLA models (DeepSeek, GLM-4.7-Flash): answer for llama.cpp builds before PR #19067 (2026-01-24), which cache K and V; by default K only, as newer builds (the pinned one included) do")] = False,
    mla_v_less: Annotated[bool, typer.Option("--mla-v-less", hidden=True, help="the default now (K-only MLA cache); kept for old scripts")] = False,
    file_size_gib: Annotated[Optional[float], typer.Option("--file-size-gib", help="the file size a download page lists, when the catalog lacks this quant")] = None,
    budget_gib: Annotated[Optional[float], typer.Option("--budget-gib", help="GiB the GPU may address (default: this machine's GTT/TTM limits when vtt runs on the hardware asked about, else the spec's; the same rule as vtt optimize and vtt fit); the hardware's reserve is kept free")] = None,
    calibration: Annotated[Optional[str], typer.Option("--calibration", help="calibration id (default: newest for hardware x backend)")] = None,
    boxes: Annotated[Optional[int], typer.Option("--boxes", help="split the model over N identical boxes with llama.cpp RPC (answers per device)")] = None,
    cluster: Annotated[Optional[str], typer.Option("--cluster", help="a cluster spec id (specs/clusters): boxes, their hardware, and the link")] = None,
    link: Annotated[Optional[str], typer.Option("--link", help="link between the boxes for --boxes: 10gbe (default), 5gbe, 2.5gbe, usb4-net, loopback")] = None,
    tensor_split: Annotated[Optional[str], typer.Option("--tensor-split", "-ts", help="llama.cpp --tensor-split over the devices, e.g. 3,2")] = None,
    batch: Annotated[Optional[Path], typer.Option("--batch", help="JSONL file, one query per line (keys as the flags: model, quant, context, depth, n_prompt, n_gen, hardware, backend, cached_tokens, prompt_tokens, output_tokens, mode, build, units, mla_kv_full ...; an 'id' is passed through to the answer); '-' reads stdin")] = None,
    sweep: Annotated[Optional[str], typer.Option("--sweep", help="answer a curve: 'context' (4K up to the trained context) or 'depth' (0 up to the context)")] = None,
    units: Annotated[str, typer.Option("--units", help="memory units: GiB (2^30 bytes, default) or GB (10^9, as download pages); GB adds *_gb keys to --json, the *_gib keys stay")] = "GiB",
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object per answer (JSON lines)")] = False,
):
    """Predict weights, KV cache, compute buffer, total memory vs budget, pp/tg tokens/s and TTFT.

    pp_tps and tg_tps mean what llama-bench reports for -p N_PROMPT -n N_GEN -d DEPTH.

    Examples:

      vtt plan glm-4.7-flash --quant Q8_0 --context 65536

      vtt plan GLM-4.7-Flash-Q8 -c 131072 --depth 32768 --json

      vtt plan Qwen3-Coder-30B-A3B-Instruct-UD-Q4_K_XL-00001-of-00002.gguf --sweep context

      vtt plan https://host/model.gguf -c 32768

      vtt plan -hf unsloth/GLM-4.7-Flash-GGUF:Q8_0 -c 65536     (also: hf.co/unsloth/GLM-4.7-Flash-GGUF:Q8_0)

      vtt plan gpt-oss-120b -c 131072 --runtime server-4-slots

      vtt plan glm-4.7-flash --request --cached-tokens 24576 --prompt-tokens 1024 --output-tokens 512

      vtt plan qwen3-coder-30b-a3b --mode roo/code

      vtt plan --batch queries.jsonl --json

    Exit status: 0 when every query is answered; 2 for bad input, and in --batch (or --sweep) when
    any line failed (that line's answer has an "error" object, the others are still answered);
    3 when a file or URL cannot be reached.
    """
    from vtt.plan import plan_many

    if batch is not None:
        answers = plan_many(_read_batch(batch))
        _emit(answers, json_out or True)  # a batch always answers in JSON lines
        if any("error" in a for a in answers):
            raise typer.Exit(2)
        return
    if hf_repo is not None:
        if model is not None:
            raise BadQuery(f"give a MODEL or -hf {hf_repo}, not both")
        model = "hf://" + hf_repo.strip()
    if model is None:
        raise BadQuery("give a MODEL, -hf user/repo[:quant], or --batch FILE", hint="example: vtt plan glm-4.7-flash --quant Q8_0 --context 65536")
    base = dict(model=model, quant=quant, context=context, depth=depth, n_prompt=n_prompt, n_gen=n_gen,
                hardware=hardware, backend=backend, flash_attn=flash_attn, n_ubatch=n_ubatch, kv_type=kv_type,
                parallel=parallel, mla_v_less=mla_v_less or None, mla_kv_full=mla_kv_full or None, kv_unified=kv_unified or None,
                swa_full=swa_full or None, runtime=runtime, file_size_gib=file_size_gib, calibration=calibration,
                request=request or None, cached_tokens=cached_tokens, prompt_tokens=prompt_tokens,
                output_tokens=output_tokens, mode=mode, build=build, units=units,
                boxes=boxes, cluster=cluster, link=link, tensor_split=_split_arg(tensor_split),
                budget_gib=budget_gib)
    if sweep and (request or mode or prompt_tokens is not None):
        raise BadQuery("--sweep answers llama-bench curves: use it without --request/--mode")
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
    if errors:
        raise typer.Exit(2)


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
        except (ValueError, RecursionError) as e:  # nesting too deep, or a number too long to parse
            out.append({"__bad_line__": f"line {n}: not a usable JSON object ({type(e).__name__})"})
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
        n_p = 512 if base["n_prompt"] is None else base["n_prompt"]
        return [{**base, "context": c, "depth": min(base["depth"] or 0, c - n_p)} for c in ctxs]
    if axis == "depth":
        ctx = base["context"] or 4096
        n_p = 512 if base["n_prompt"] is None else base["n_prompt"]
        depths, d = [0], 4096
        while d + n_p <= ctx:
            depths.append(d)
            d *= 2
        return [{**base, "depth": d} for d in depths]
    raise BadQuery(f"bad sweep '{axis}': use 'context' or 'depth'")


def _emit(answers: list[dict], json_out: bool) -> None:
    if json_out:
        sys.stdout.write("".join(json.dumps(a) + "\n" for a in answers))
        return
    from vtt.cli.render import render_plan
    from vtt.plan import printable

    # text from headers and servers (model labels, warnings, messages) must not reach a terminal raw
    units = next((a.get("units") for a in answers if a.get("units")), "GiB")
    answers = [_printable_strings(a, printable) for a in answers]
    render_plan(answers, units=units)
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


def _printable_strings(v, printable):
    if isinstance(v, str):
        return printable(v)
    if isinstance(v, dict):
        return {k: _printable_strings(x, printable) for k, x in v.items()}
    if isinstance(v, list):
        return [_printable_strings(x, printable) for x in v]
    return v
