"""A short prompt on an MoE: does prefill pay for every expert, or only for the ones its tokens route to?
(vtt.cost.throughput.expert_rows, 2026-12-01.) llama-bench pp at 1-512 prompt tokens and tg, on the H200
(Vulkan), for Qwen3-30B-A3B (8 of 128 experts) and gpt-oss-20b (4 of 32) written with random weights
(validation/gpu/matrix.py), and for a dense model of the same size class as the control (Llama 3.1 8B).

    python validation/moe_short/short_prompt.py predict   # here, BEFORE the run: predictions.jsonl
    LLAMA_BIN_DIR=... OUT=... bash validation/moe_short/run.sh   # on the GPU machine
    python validation/moe_short/short_prompt.py analyze   # results/*.jsonl against predictions.jsonl

vtt's previous form (every expert streamed per ubatch, tokens x used / total rows per expert GEMM) is
predicted beside it, so the run says which one the hardware follows. Random-weight routing is close to
uniform, the case expert_rows assumes; real routing is skewed (fewer experts touched).
"""

from __future__ import annotations

import json
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gpu"))
from matrix import header_files, write  # noqa: E402

MODELS = [("qwen3-30b-a3b", 24, "q8_0"), ("gpt-oss-20b", 24, "mxfp4"), ("llama-3.1-8b", 32, "q8_0")]
PROMPTS = [1, 2, 4, 8, 16, 32, 64, 128, 512]
N_GEN = 32
HARDWARE, BACKEND = "h200-141", "vulkan-nvidia"


def _previous_form():
    """A context manager: vtt's prefill before expert_rows (all experts, T x used / total rows)."""
    import contextlib

    import numpy as np

    from vtt.cost import throughput

    @contextlib.contextmanager
    def cm():
        saved = throughput.expert_rows

        def old(tokens, frac):
            t = np.asarray(tokens, dtype=float)
            return np.ones_like(t * np.asarray(frac, dtype=float)), t * np.asarray(frac, dtype=float)

        throughput.expert_rows = old
        try:
            yield
        finally:
            throughput.expert_rows = saved
    return cm()


def predict(out: Path = HERE / "predictions.jsonl") -> None:
    from vtt.plan import plan_many

    qs, keys = [], []
    for path in header_files(MODELS, "vtt-moe-short-"):
        for p in PROMPTS:
            qs.append({"model": str(path), "context": p + N_GEN, "n_prompt": p, "n_gen": N_GEN, "flash_attn": True,
                       "hardware": HARDWARE, "backend": BACKEND})
            keys.append((path.name, p))
    now = plan_many(qs)
    with _previous_form():
        before = plan_many(qs)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [json.dumps({"predicted_at": stamp, "model_file": k[0], "n_prompt": k[1], "pp_tps": a["pp_tps"],
                         "pp_tps_interval": a.get("pp_tps_interval"), "tg_tps": a["tg_tps"],
                         "pp_tps_previous_form": b["pp_tps"], "calibration": a["calibration"]})
             for k, a, b in zip(keys, now, before)]
    out.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} predictions -> {out}")


def analyze(results: Path = HERE / "results") -> dict:
    pred = {(p["model_file"], p["n_prompt"]): p for p in map(json.loads, open(HERE / "predictions.jsonl"))}
    rows = []
    tg = {}
    for r in map(json.loads, open(results / "bench.jsonl")):
        name = Path(r["model_filename"]).name
        if r["n_gen"]:
            tg[name] = r["avg_ts"]
            continue
        p = pred.get((name, r["n_prompt"]))
        if p:
            rows.append({"model": name, "n_prompt": r["n_prompt"], "measured": r["avg_ts"], "vtt": p["pp_tps"],
                         "previous_form": p["pp_tps_previous_form"],
                         "err": p["pp_tps"] / r["avg_ts"] - 1, "err_previous": p["pp_tps_previous_form"] / r["avg_ts"] - 1})
    for r in rows:
        r["measured_tg"] = tg.get(r["model"])
    moe = [r for r in rows if not r["model"].startswith("llama") and r["n_prompt"] <= 64]
    return {"rows": rows,
            "moe_short_median_abs_err": statistics.median(abs(r["err"]) for r in moe) if moe else None,
            "moe_short_median_abs_err_previous": statistics.median(abs(r["err_previous"]) for r in moe) if moe else None}


if __name__ == "__main__":
    if sys.argv[1:] == ["predict"]:
        predict()
    elif sys.argv[1:] == ["analyze"]:
        s = analyze()
        print("| model | prompt tokens | measured pp t/s | vtt | error | previous form | error | measured tg t/s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in s["rows"]:
            print(f"| {r['model']} | {r['n_prompt']} | {r['measured']:.1f} | {r['vtt']:.1f} | {100 * r['err']:+.1f} % | "
                  f"{r['previous_form']:.1f} | {100 * r['err_previous']:+.1f} % | {r['measured_tg'] or 0:.1f} |")
        print(f"\nMoE, prompts of 1-64 tokens: median |error| {100 * s['moe_short_median_abs_err']:.1f} % "
              f"(previous form {100 * s['moe_short_median_abs_err_previous']:.1f} %)")
    elif sys.argv[1:2] == ["write"]:
        print(write(*MODELS[int(sys.argv[3])], Path(sys.argv[2])))
    else:
        sys.exit(__doc__)
