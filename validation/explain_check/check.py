"""Does `vtt plan --explain` say where a prompt's time goes? Against llama.cpp's own per-op GPU times.

vtt's time_terms split a prediction into named terms (vtt.cost.throughput.prefill_terms). llama.cpp's
Vulkan backend times every op of a graph when GGML_VK_PERF_LOGGER is set (ggml-vulkan.cpp
vk_perf_logger::print_timings: per op name, count x mean us, to stderr, for every graph computed). On
the lent H200, with the shipped `h200-141--vulkan-nvidia` calibration and nothing refitted, for three
models written with random weights at their real widths (vtt.gguf.write):

- Llama 2 7B (32 layers, Q8_0): MHA, 32 KV heads of 128;
- Qwen3-30B-A3B (48 layers, Q4_0): MoE, GQA 8;
- Gemma 3 12B (48 layers, Q8_0): 5 sliding layers to 1 global, 256-wide heads;

llama-bench -p 512 -n 0 at depths 0, 8192 and 32768 (flash attention on, one repetition; the logger
times ops one by one, so these runs are not speed rows). The last graph a run computes is its timed
prompt ubatch. Compared: the attention share of the prompt's time (vtt: attention + kv_rereads +
kq_scores; llama.cpp: FLASH_ATTN_EXT) and the seconds of attention and of the rest.

    python validation/explain_check/check.py predict     # here, BEFORE the run: predictions.jsonl
    LLAMA_BIN_DIR=... OUT=... bash validation/explain_check/run.sh   # on the GPU machine
    python validation/explain_check/check.py analyze     # results/ against predictions.jsonl
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gpu"))
from matrix import file_name, header_files, write  # noqa: E402

MODELS = [("llama-2-7b", 32, "q8_0"), ("qwen3-30b-a3b", 48, "q4_0"), ("gemma-3-12b", 48, "q8_0")]
DEPTHS = [0, 8192, 32768]
N_PROMPT = 512
HARDWARE, BACKEND = "h200-141", "vulkan-nvidia"
ATTENTION_TERMS = ("attention", "kv_rereads", "kq_scores")
# one line of the logger: "<op name and shapes>: <count> x <mean> us = <total> us[ (<x> GFLOPS/s)]"
LINE = re.compile(r"^(?P<name>.+?): (?P<count>\d+) x (?P<mean>[0-9.e+-]+) us = (?P<total>[0-9.e+-]+) us")


def predict(out: Path = HERE / "predictions.jsonl") -> None:
    from vtt.plan import plan_many

    qs, keys = [], []
    for path in header_files(MODELS, "vtt-explain-"):
        for d in DEPTHS:
            qs.append({"model": str(path), "context": N_PROMPT + d, "depth": d, "n_prompt": N_PROMPT, "n_gen": 0,
                       "flash_attn": True, "hardware": HARDWARE, "backend": BACKEND, "explain": True})
            keys.append((path.name, d))
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = []
    for (name, d), a in zip(keys, plan_many(qs)):
        terms = a["time_terms"]["pp_s"]
        attn = sum(terms[k] for k in ATTENTION_TERMS)
        lines.append(json.dumps({"predicted_at": stamp, "model_file": name, "n_depth": d, "pp_tps": a["pp_tps"],
                                 "prompt_s": sum(terms.values()), "attention_s": attn,
                                 "attention_share": attn / sum(terms.values()), "terms": terms,
                                 "calibration": a["calibration"]}))
    out.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} predictions -> {out}")


def last_block(text: str) -> dict[str, float]:
    """Microseconds per op kind in the last 'Vulkan Timings' block of a logger's stderr."""
    blocks = text.split("Vulkan Timings:")
    if len(blocks) < 2:
        return {}
    out: dict[str, float] = {}
    for line in blocks[-1].splitlines():
        m = LINE.match(line.strip())
        if m:
            kind = m["name"].split()[0].split("(")[0]
            out[kind] = out.get(kind, 0.0) + float(m["total"])
    return out


def analyze(results: Path = HERE / "results") -> list[dict]:
    pred = {(p["model_file"], p["n_depth"]): p for p in map(json.loads, open(HERE / "predictions.jsonl"))}
    rows = []
    for (name, d), p in sorted(pred.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        log = results / f"{name}.d{d}.log"
        if not log.is_file():
            continue
        ops = last_block(log.read_text(errors="replace"))
        total = sum(ops.values())
        if not total:
            continue
        fa = sum(v for k, v in ops.items() if k.startswith("FLASH_ATTN"))
        mm = sum(v for k, v in ops.items() if k.startswith("MUL_MAT"))
        rows.append({"model": name, "depth": d, "vtt_share": p["attention_share"], "measured_share": fa / total,
                     "vtt_attention_ms": 1e3 * p["attention_s"], "measured_attention_ms": fa / 1e3,
                     "vtt_rest_ms": 1e3 * (p["prompt_s"] - p["attention_s"]), "measured_rest_ms": (total - fa) / 1e3,
                     "measured_matmul_ms": mm / 1e3, "ops_ms": {k: round(v / 1e3, 3) for k, v in sorted(ops.items())}})
    return rows


if __name__ == "__main__":
    if sys.argv[1:] == ["predict"]:
        predict()
    elif sys.argv[1:] == ["analyze"]:
        print("| model | depth | attention share vtt / llama.cpp | attention ms vtt / llama.cpp | rest ms vtt / llama.cpp (of it MUL_MAT) |")
        print("|---|---:|---|---|---|")
        for r in analyze():
            print(f"| {r['model']} | {r['depth']} | {100 * r['vtt_share']:.0f} / {100 * r['measured_share']:.0f} % | "
                  f"{r['vtt_attention_ms']:.1f} / {r['measured_attention_ms']:.1f} | {r['vtt_rest_ms']:.1f} / "
                  f"{r['measured_rest_ms']:.1f} ({r['measured_matmul_ms']:.1f}) |")
    elif sys.argv[1:2] == ["write"]:
        print(write(*MODELS[int(sys.argv[3])], Path(sys.argv[2])))
    elif sys.argv[1:] == ["n"]:
        print(len(MODELS))
    elif sys.argv[1:] == ["depths"]:
        print(" ".join(map(str, DEPTHS)))
    elif sys.argv[1:2] == ["name"]:
        print(file_name(*MODELS[int(sys.argv[2])]))
    else:
        sys.exit(__doc__)
