"""The GPU validation matrix: models written with random weights, llama-bench tests, predictions.

    python validation/gpu/matrix.py predict     # here, BEFORE any measurement: predictions.jsonl
    python validation/gpu/matrix.py write DIR M # on the GPU machine: write model M's real GGUF
    python validation/gpu/matrix.py list        # model names, for run.sh

Each model is a catalog architecture (some with fewer layers, to fit the device time) written by
vtt.gguf.write; vtt predicts the exact file it is given, so header-only copies (sparse files)
give the same predictions as the real ones.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (catalog id, layers kept, weight type): dense GQA, quants, MoE, sliding-window MoE, MLA
MODELS = [
    ("llama-3.1-8b", 32, "f16"),
    ("llama-3.1-8b", 32, "q8_0"),
    ("llama-3.1-8b", 32, "q4_0"),
    ("qwen3-30b-a3b", 24, "q8_0"),
    ("gpt-oss-20b", 24, "mxfp4"),
    ("glm-4.7-flash", 16, "q8_0"),
]
DEPTHS_FA = [0, 4096, 16384, 32768]  # flash attention on
DEPTHS_NOFA = [0, 4096]  # flash attention off: the slow path, kept short
N_PROMPT, N_GEN = 512, 128
HARDWARE, BACKEND = "h100-sxm-80", "vulkan-nvidia"


def file_name(model: str, n_layer: int, wtype: str) -> str:
    return f"{model}-{n_layer}L-{wtype}.gguf"


def write(model: str, n_layer: int, wtype: str, out_dir: Path, header_only: bool = False) -> Path:
    from vtt.gguf.write import write_random_gguf
    from vtt.specs.catalog import default_world

    arch = default_world().model(model)
    return write_random_gguf(arch, out_dir / file_name(model, n_layer, wtype), weight_type=wtype,
                             n_layer=n_layer, header_only=header_only)


def header_files(models, prefix: str = "vtt-") -> list[Path]:
    """Header-only GGUFs (no tensor data) of `models`, (model, n_layer, wtype) each, in a fresh temp folder:
    what vtt plan reads to predict a file before the device writes the real one."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    return [write(model, n_layer, wtype, tmp, header_only=True) for model, n_layer, wtype in models]


def tests():
    """(flash_attn, depth, test, n_prompt, n_gen) as llama-bench runs them."""
    for fa, depths in ((1, DEPTHS_FA), (0, DEPTHS_NOFA)):
        for d in depths:
            yield fa, d, "pp", N_PROMPT, 0
            yield fa, d, "tg", 0, N_GEN


def predict(out: Path = HERE / "predictions.jsonl") -> None:
    from vtt.plan import plan_many

    lines = []
    for path in header_files(MODELS, "vtt-gpu-"):
        for fa, d, test, n_p, n_g in tests():
            # llama-bench's context for a test is n_prompt + n_gen + n_depth
            q = {"model": str(path), "context": n_p + n_g + d, "depth": d, "n_prompt": max(n_p, 1),
                 "n_gen": max(n_g, 1), "flash_attn": bool(fa), "hardware": HARDWARE, "backend": BACKEND}
            (a,) = plan_many([q])
            lines.append({
                "predicted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "model_file": path.name, "test": test, "flash_attn": fa, "n_depth": d,
                "n_prompt": n_p, "n_gen": n_g, **{k: q[k] for k in ("context", "hardware", "backend")},
                "pp_tps": a["pp_tps"], "tg_tps": a["tg_tps"], "pp_tps_interval": a["pp_tps_interval"],
                "tg_tps_interval": a["tg_tps_interval"], "total_gib": a["total_gib"], "weights_gib": a["weights_gib"],
                "kv_cache_gib": a["kv_cache_gib"], "compute_buffer_gib": a["compute_buffer_gib"],
                "calibration": a["calibration"],
            })
    out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    print(f"{len(lines)} predictions -> {out}")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "predict"
    if cmd == "predict":
        predict()
    elif cmd == "list":
        for m in MODELS:
            print(*m)
    elif cmd == "write":
        out_dir, idx = Path(sys.argv[2]), int(sys.argv[3])
        print(write(*MODELS[idx], out_dir))
    else:
        sys.exit(f"unknown command {cmd}")
