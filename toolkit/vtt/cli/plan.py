"""`vtt plan`: what a model costs (memory, pp/tg speed, time to first token) before you download it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer



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
    hipblaslt: Annotated[Optional[bool], typer.Option("--hipblaslt/--no-hipblaslt", help="ROCm: ROCBLAS_USE_HIPBLASLT=1 set (or not). Matters for llama.cpp builds before ~b7000 (2025), which ran prompt GEMMs on rocBLAS: without hipBLASLt 3-5x slower on gfx1151; default: unset")] = None,
    rocwmma: Annotated[bool, typer.Option("--rocwmma", help="ROCm: a llama.cpp build with GGML_HIP_ROCWMMA_FATTN. Matters for builds before ~b7000 (2025), whose flash attention ran a prompt on the rocWMMA kernel with it and on the slow vec kernel without")] = False,
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
    batch: Annotated[Optional[Path], typer.Option("--batch", help="JSONL file, one query per line (keys as the flags: model, quant, context, depth, n_prompt, n_gen, hardware, backend, cached_tokens, prompt_tokens, output_tokens, mode, build, hipblaslt, rocwmma, units, mla_kv_full ...; an 'id' is passed through to the answer); '-' reads stdin")] = None,
    sweep: Annotated[Optional[str], typer.Option("--sweep", help="answer a curve: 'context' (4K up to the trained context) or 'depth' (0 up to the context)")] = None,
    units: Annotated[str, typer.Option("--units", help="memory units: GiB (2^30 bytes, default) or GB (10^9, as download pages); GB adds *_gb keys to --json, the *_gib keys stay")] = "GiB",
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object per answer (JSON lines)")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="where the time goes: the prompt's seconds and a generated token's milliseconds by named term of the cost model (matmul, attention, weights, kv_cache ...), after the table, or as time_terms in --json (batch key: explain)")] = False,
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

      vtt plan glm-4.7-flash -c 65536 -d 32768 --explain     (where the time goes, by term)

      vtt plan glm-4.7-flash --request --cached-tokens 24576 --prompt-tokens 1024 --output-tokens 512

      vtt plan qwen3-coder-30b-a3b --mode roo/code

      vtt plan --batch queries.jsonl --json

    Exit status: 0 when every query is answered; 2 for bad input, and in --batch (or --sweep) when
    any line failed (that line's answer has an "error" object, the others are still answered);
    3 when a file or URL cannot be reached.
    """
    values = dict(locals())  # the options' values, before any other local name exists
    from vtt.cli.plan_run import run

    run(**values)


