"""DeepSeek-V4's memory on the H200 at contexts and ubatches the compute-buffer term was not written
beside (it was read against fit_c65536.log and fit_c1048576.log, -ub 512): predicted here first.

    python validation/h200_unseen/dsv4_memory.py predict          # here, BEFORE the run
    LLAMA_BIN_DIR=... OUT=... python validation/h200_unseen/dsv4_memory.py run   # on the GPU machine
    python validation/h200_unseen/dsv4_memory.py analyze          # results_dsv4_memory/ against the predictions

The file is the third run's (8 of 43 layers, Q4_0), written header-only: llama-fit-params projects
without allocating, so it reads no weights.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gpu"))
from matrix import write  # noqa: E402

MODEL = ("deepseek-v4-flash", 8, "q4_0")
CASES = [(16384, 512), (262144, 512), (262144, 2048), (131072, 1024), (524288, 256)]  # (context, ubatch)
PRED = HERE / "predictions_dsv4_memory.jsonl"
RESULTS = HERE / "results_dsv4_memory"


def predict() -> None:
    from vtt.plan import plan_many

    path = write(*MODEL, Path(tempfile.mkdtemp()), header_only=True)
    qs = [{"model": str(path), "context": c, "n_ubatch": u, "hardware": "h200-141", "backend": "vulkan-nvidia"}
          for c, u in CASES]
    with PRED.open("w") as fh:
        for (c, u), a in zip(CASES, plan_many(qs)):
            fh.write(json.dumps({"context": c, "n_ubatch": u, "kv_cache_bytes": a["kv_cache_bytes"],
                                 "compute_buffer_gib": a["compute_buffer_gib"]}) + "\n")
    print(f"{len(CASES)} predictions -> {PRED}")


def run() -> None:
    out = Path(os.environ.get("OUT", "/tmp/out"))
    out.mkdir(parents=True, exist_ok=True)
    path = write(*MODEL, Path(tempfile.mkdtemp()), header_only=True)
    tool = Path(os.environ["LLAMA_BIN_DIR"]) / "llama-fit-params"
    for c, u in CASES:
        log = subprocess.run([str(tool), "-m", str(path), "-ngl", "99", "-c", str(c), "-ub", str(u), "-b", str(max(u, 2048)),
                              "-fa", "on", "--fit-print", "on", "-v"], capture_output=True, text=True, timeout=300)
        (out / f"fit_c{c}_ub{u}.log").write_text(log.stdout + log.stderr)


def analyze() -> None:
    print("| context | ubatch | KV vtt / llama.cpp MiB | compute vtt / llama.cpp MiB | compute error |")
    print("|---:|---:|---:|---:|---:|")
    for p in map(json.loads, PRED.read_text().splitlines()):
        log = (RESULTS / f"fit_c{p['context']}_ub{p['n_ubatch']}.log").read_text()
        kv = sum(float(x) for x in re.findall(r"llama_kv_cache: size =\s+([\d.]+) MiB", log))
        kv += sum(float(x) for x in re.findall(r"DSV4 \w+ state buffer size =\s+([\d.]+) MiB", log))
        comp = float(re.search(r"Vulkan0 compute buffer size =\s+([\d.]+) MiB", log).group(1))
        ours = p["compute_buffer_gib"] * 1024
        print(f"| {p['context']} | {p['n_ubatch']} | {p['kv_cache_bytes'] / 2**20:.2f} / {kv:.2f} | "
              f"{ours:.1f} / {comp:.1f} | {100 * (ours / comp - 1):+.1f} % |")


if __name__ == "__main__":
    {"predict": predict, "run": run, "analyze": analyze}.get((sys.argv[1:] or [""])[0], lambda: sys.exit(__doc__))()
