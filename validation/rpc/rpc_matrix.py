"""The RPC validation matrix (two GPUs of one host, one Vulkan ggml-rpc-server each) and its predictions.

    python validation/rpc/rpc_matrix.py predict      # here, BEFORE any measurement: predictions.jsonl
    python validation/rpc/rpc_matrix.py write DIR M  # on the GPU machine: model M with random weights
    python validation/rpc/rpc_matrix.py list

Predictions are vtt's answers for cluster `h200-vulkan-x2` (specs/clusters): per-device weights and
KV cache (exact targets), compute buffers, pp/tg through the two rpc-servers, and the one-box
(local) pp/tg, whose difference is the network term the run measures directly.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gpu"))
from matrix import write  # noqa: E402  (validation/gpu/matrix.py: random-weight GGUFs)

import os

# run 1 (results-h200/): the models the per-graph RPC cost was fitted on; run 2 (RPC_MODELS=run2,
# results-h200-run2/): two architectures that fit never saw (SWA MoE in MXFP4, MLA), predicted with
# that cost before they ran. Run 3 (RPC_MODELS=run3, results-h200-run3/): a steadier protocol
# (5 repetitions, depth 4096 before depth 0 so no timed test follows an idle GPU, every config at
# both depths), one rpc-server alone (`rpc1`: -dev RPC0) beside the two-server splits, and the
# same llama geometry at 8 and 32 layers, to tell a per-graph from a per-layer remote cost.
RUNS = {"run1": [("llama-3.1-8b", 32, "q8_0"), ("qwen3-30b-a3b", 24, "q8_0")],
        "run2": [("gpt-oss-20b", 24, "mxfp4"), ("glm-4.7-flash", 16, "q8_0")],
        "run3": [("glm-4.7-flash", 16, "q8_0"), ("llama-3.1-8b", 32, "q8_0"), ("llama-3.1-8b", 8, "q8_0"),
                 ("gpt-oss-20b", 24, "mxfp4")],
        # run 4 (RPC_MODELS=run4, results-h200-run4/): the duty_clock law out of sample: two models whose
        # clocks were never sampled, and a 1/3 split (the small share on RPC0, GPU 0) beside 1/1 and 3/1
        "run4": [("llama-3.1-8b", 8, "q8_0"), ("gpt-oss-20b", 24, "mxfp4")],
        # run 5 (RPC_MODELS=run5, SAME_GPU=1, results-h200-run5/): a one-GPU machine, both rpc-servers on
        # GPU 0: run 3's two-server tests of its two fully measured models, with the GPU never idle between
        # the devices' graphs. Against run 3 (one GPU per server) it measures what the duty-cycle clocks
        # cost; against vtt without a clock law, the chain's network terms alone
        "run5": [("glm-4.7-flash", 16, "q8_0"), ("llama-3.1-8b", 32, "q8_0")],
        "dry": [("tinyllama-1.1b", 2, "q4_0")]}  # a CPU dry run of run_gpu.sh's run-3 protocol
RUN = os.environ.get("RPC_MODELS", "run1")
MODELS = RUNS[RUN]
SPLITS = [(1, 1), (3, 1), (1, 3)] if RUN == "run4" else [(1, 1), (3, 1)]
DEPTHS = [0, 4096]
CLUSTER_RPC1 = "h200-vulkan-rpc1"  # run 3: every layer on one rpc-server
STEADY = RUN in ("run3", "run4", "run5", "dry")  # run 3's protocol
N_PROMPT, N_GEN = 512, 128
CLUSTER = "h200-vulkan-x2-onegpu" if RUN == "run5" else "h200-vulkan-x2"
HARDWARE, BACKEND = "h200-141", "vulkan-nvidia"


def tests():
    """(config, split, depth, test, n_prompt, n_gen) as run_gpu.sh runs them. Runs 1-2: the 3:1
    split at depth 0 only; run 3: one rpc-server alone too, every config at depth 4096 then 0."""
    if STEADY:
        first = () if RUN == "run5" else (("rpc1", (1,)),)  # run 5: run 3 measured rpc1 on this card
        for cfg, split in (*first, *(("x2", sp) for sp in SPLITS)):
            for d in (4096, 0):
                yield cfg, split, d, "pp", N_PROMPT, 0
                yield cfg, split, d, "tg", 0, N_GEN
        return
    for split in SPLITS:
        for d in (DEPTHS if split == SPLITS[0] else [0]):
            yield "x2", split, d, "pp", N_PROMPT, 0
            yield "x2", split, d, "tg", 0, N_GEN


def predict(out: Path = HERE / ("predictions.jsonl" if RUN == "run1" else f"predictions-{RUN}.jsonl")) -> None:
    from vtt.plan import plan_many

    tmp = Path(tempfile.mkdtemp(prefix="vtt-rpc-"))
    lines = []
    for model, n_layer, wtype in MODELS:
        path = write(model, n_layer, wtype, tmp, header_only=True)
        for cfg, split, d, test, n_p, n_g in tests():
            base = {"model": str(path), "context": n_p + n_g + d, "depth": d, "n_prompt": max(n_p, 1),
                    "n_gen": max(n_g, 1), "flash_attn": True, "hardware": HARDWARE, "backend": BACKEND}
            on = {"cluster": CLUSTER_RPC1} if cfg == "rpc1" else {"cluster": CLUSTER, "tensor_split": list(split)}
            a, one = plan_many([{**base, **on}, base])
            if "error" in a:
                raise SystemExit(f"{path.name}: {a['error']}")
            lines.append({
                "predicted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "model_file": path.name, "config": cfg, "tensor_split": list(split), "test": test, "n_depth": d,
                "n_prompt": n_p, "n_gen": n_g, "context": base["context"], "cluster": on["cluster"],
                "pp_tps": a["pp_tps"], "tg_tps": a["tg_tps"], "pp_tps_local": one["pp_tps"], "tg_tps_local": one["tg_tps"],
                "network": a["network"], "calibration": a["calibration"],
                "devices": [{k: dv[k] for k in ("device", "layers", "output_layer", "weights_bytes", "kv_cache_bytes",
                                                 "compute_buffer_bytes", "total_gib", "fits")} for dv in a["devices"]],
                "host_weights_bytes": a["host"]["weights_bytes"],
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
    elif cmd == "config-tests":  # run_gpu.sh: the -d list of each config
        print("4096,0" if STEADY else "0,4096")
    elif cmd == "splits":  # run_gpu.sh: the -ts of each two-server call, in order
        print(" ".join(f"{a}/{b}" for a, b in SPLITS))
    elif cmd == "write":
        print(write(*MODELS[int(sys.argv[3])], Path(sys.argv[2])))
    else:
        sys.exit(f"unknown command {cmd}")
