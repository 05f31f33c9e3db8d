"""Does a decoded token's fixed cost follow the number of operations in llama.cpp's graph? (2026-12-01)

vtt charges decode a fixed cost per layer (t_layer_us, plus t_moe_layer_us per MoE layer), the same for
every architecture. The pinned llama.cpp's decode graph has 31 nodes per Llama layer, 35 for Qwen3 (Q/K
norms), 40 for Gemma 3, 51 for Qwen3-MoE, 52 for gpt-oss and 67 for DeepSeek-2 (CPU build, `llama-bench
-v` "graph: nodes"). On the H200, Gemma 3 12B decoded 26-31 % slower than vtt said at every depth
(validation/h200_unseen), a per-token cost. Here the six tiny architectures of tests/gguf_models.py (256
wide, so decode is almost nothing but dispatches) are written at 24 and 48 layers and decoded on the
H200 (Vulkan): the 24-layer difference is the per-layer time of each architecture, free of the
per-token constant, to set against its node count and against vtt's answer.

    python validation/graph_nodes/nodes.py predict     # here, BEFORE the run: predictions.jsonl
    LLAMA_BIN_DIR=... OUT=... bash validation/graph_nodes/run.sh
    python validation/graph_nodes/nodes.py analyze
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))
from gguf_models import TINY, tiny_arch  # noqa: E402

LAYERS = (24, 48)
HARDWARE, BACKEND = "h200-141", "vulkan-nvidia"


def _path(folder: Path, kind: str, n_layer: int) -> Path:
    return Path(folder) / f"{kind}-{n_layer}L.gguf"


def write(folder: Path, header_only: bool = False) -> list[Path]:
    from vtt.gguf.write import write_random_gguf

    out = []
    for kind in sorted(TINY):
        for n in LAYERS:
            out.append(write_random_gguf(tiny_arch(kind, n_layer=n), _path(folder, kind, n), weight_type="f16",
                                         header_only=header_only))
    return out


def predict(out: Path = HERE / "predictions.jsonl") -> None:
    from vtt.plan import plan_many

    files = write(Path(tempfile.mkdtemp(prefix="vtt-nodes-")), header_only=True)
    qs = [{"model": str(f), "context": 256, "n_prompt": 0, "n_gen": 128, "flash_attn": True,
           "hardware": HARDWARE, "backend": BACKEND} for f in files]
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lines = [json.dumps({"predicted_at": stamp, "model_file": f.name, "tg_tps": a["tg_tps"],
                         "tg_ms": 1e3 / a["tg_tps"], "calibration": a["calibration"]}) for f, a in zip(files, plan_many(qs))]
    out.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} predictions -> {out}")


def analyze(results: Path = HERE / "results") -> list[dict]:
    pred = {p["model_file"]: p for p in map(json.loads, open(HERE / "predictions.jsonl"))}
    meas = {Path(r["model_filename"]).name: r for r in map(json.loads, open(results / "bench.jsonl")) if r["n_gen"]}
    nodes = json.loads((results / "nodes.json").read_text())
    rows = []
    for kind in sorted(TINY):
        a, b = (f"{kind}-{n}L.gguf" for n in LAYERS)
        if a not in meas or b not in meas:
            continue
        dn = LAYERS[1] - LAYERS[0]
        ms = {f: 1e3 / meas[f]["avg_ts"] for f in (a, b)}
        per_layer = (ms[b] - ms[a]) / dn * 1e3  # µs per layer
        per_layer_vtt = (pred[b]["tg_ms"] - pred[a]["tg_ms"]) / dn * 1e3
        n_per_layer = (nodes[b] - nodes[a]) / dn
        rows.append({"kind": kind, "nodes_per_layer": n_per_layer, "us_per_layer": per_layer,
                     "us_per_node": per_layer / n_per_layer, "vtt_us_per_layer": per_layer_vtt,
                     "ms_24": ms[a], "ms_48": ms[b], "vtt_ms_24": pred[a]["tg_ms"], "vtt_ms_48": pred[b]["tg_ms"]})
    return rows


if __name__ == "__main__":
    if sys.argv[1:] == ["predict"]:
        predict()
    elif sys.argv[1:] == ["analyze"]:
        rows = analyze()
        print("| architecture | graph nodes per layer | measured µs per layer | µs per node | vtt µs per layer | "
              "tg ms at 24 / 48 layers | vtt |")
        print("|---|---:|---:|---:|---:|---|---|")
        for r in rows:
            print(f"| {r['kind']} | {r['nodes_per_layer']:.0f} | {r['us_per_layer']:.1f} | {r['us_per_node']:.2f} | "
                  f"{r['vtt_us_per_layer']:.1f} | {r['ms_24']:.2f} / {r['ms_48']:.2f} | "
                  f"{r['vtt_ms_24']:.2f} / {r['vtt_ms_48']:.2f} |")
        per_node = [r["us_per_node"] for r in rows]
        print(f"\nµs per node: median {statistics.median(per_node):.2f}, range {min(per_node):.2f}-{max(per_node):.2f}")
    elif sys.argv[1:2] == ["write"]:
        for p in write(Path(sys.argv[2])):
            print(p)
    else:
        sys.exit(__doc__)
