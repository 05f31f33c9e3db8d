"""Request-level predictions for validation/serve/run_gpu.sh, made with `vtt plan` before any run.

For each model the script writes: every request of the `modes` workload (TTFT, decode t/s, memory;
the first send of a request is cold, the repeat finds its system prefix cached, so it is predicted
at depth = prefix tokens with only the new tokens to process), the memory-per-context levels, and
the largest context vtt says fits for the stress search. Hardware h200-141, backend vulkan-nvidia.

Usage: python validation/serve/make_predictions.py MODEL_DIR > validation/serve/predictions.jsonl
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import MODELS, write  # noqa: E402

from vtt.plan import plan_many  # noqa: E402
from vtt.specs.workload import load_workload  # noqa: E402

HW, BE, RT = "h200-141", "vulkan-nvidia", "llama-cpp-defaults"
MEMORY_CONTEXTS = [4096, 16384, 32768, 65536]
STRESS = dict(lo=8192, hi=131072, step=8192)
# ChatML around the two messages with the byte-level vocabulary (measured with the smoke workload:
# prompt 157 = 96 + 32 + 29; cache_n 112 = 8 + 96 + 8 on the repeat, so 45 = 32 + 13 tokens are new)
TEMPLATE, CACHED_EXTRA, NEW_EXTRA = 29, 16, 13

KEEP = ("ttft_s", "ttft_s_interval", "tg_tps", "tg_tps_interval", "pp_tps", "total_gib", "kv_cache_bytes",
        "weights_bytes", "compute_buffer_gib", "fits", "calibration", "warnings")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def main(model_dir: str) -> None:
    wl = load_workload("modes")
    n_ctx = wl.context_needed()
    for name in MODELS:
        path = write(model_dir, name)
        digest = sha256(path)
        base = {"model": str(path), "hardware": HW, "backend": BE, "runtime": RT}
        queries, tags = [], []
        for key, req, rep in wl.expanded():
            if rep == 0:
                q = {**base, "context": n_ctx, "depth": 0, "n_prompt": req.prefix_tokens + req.new_tokens + TEMPLATE}
            else:
                q = {**base, "context": n_ctx, "depth": req.prefix_tokens + CACHED_EXTRA,
                     "n_prompt": req.new_tokens + NEW_EXTRA}
            q["n_gen"] = req.output_tokens
            queries.append(q)
            tags.append({"kind": "request", "workload": wl.id, "request": key, "n_ctx": n_ctx})
        for c in MEMORY_CONTEXTS:
            queries.append({**base, "context": c, "n_prompt": 512})
            tags.append({"kind": "memory", "n_ctx": c})
        grid = list(range(STRESS["lo"], STRESS["hi"] + 1, STRESS["step"]))
        for c in grid:
            queries.append({**base, "context": c, "n_prompt": 512})
            tags.append({"kind": "stress-grid", "n_ctx": c})
        answers = plan_many(queries)
        largest = None
        for tag, q, a in zip(tags, queries, answers):
            if tag["kind"] == "stress-grid":
                if a.get("fits"):
                    largest = tag["n_ctx"]
                continue
            row = {"model": name, "model_sha256": digest, **tag,
                   "query": {k: v for k, v in q.items() if k != "model"},
                   **{k: a.get(k) for k in KEEP if k in a}}
            if "error" in a:
                row["error"] = a["error"]
            print(json.dumps(row))
        print(json.dumps({"model": name, "model_sha256": digest, "kind": "stress", **STRESS,
                          "vtt_largest_fit": largest}))


if __name__ == "__main__":
    main(sys.argv[1])
