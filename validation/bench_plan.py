"""How fast `vtt plan` answers: a cold single query (a new process each time, as a user types it)
and a 10,000-query batch. Writes validation/bench_plan.md.

    .venv/bin/python validation/bench_plan.py
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VTT = shutil.which("vtt", path=str(Path(sys.executable).parent)) or "vtt"


def timed(cmd: list[str], stdin: str | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True)
    return time.perf_counter() - t


def main() -> None:
    single = [VTT, "plan", "glm-4.7-flash", "--quant", "Q8_0", "--context", "65536", "--json"]
    timed(single)  # warm the file cache and the .pyc files, as any second run is
    singles = [timed(single) for _ in range(9)]
    rng = random.Random(1)
    models = ["gpt-oss-20b", "glm-4.7-flash", "qwen3-30b-a3b", "gpt-oss-120b"]
    lines = []
    for _ in range(10_000):
        d = rng.choice([0, 4096, 16384, 32768])
        lines.append(json.dumps({"model": rng.choice(models), "quant": "Q8_0", "context": d + 4096, "depth": d,
                                 "n_prompt": 512, "n_gen": 128, "hardware": "strix-halo-128",
                                 "backend": "vulkan-radv"}))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    batches = [timed([VTT, "plan", "--batch", f.name, "--json"]) for _ in range(3)]
    os.unlink(f.name)
    load = os.getloadavg()[0]
    md = [
        "# `vtt plan` speed", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average {load:.2f} when measured. Regenerate: `.venv/bin/python validation/bench_plan.py`.", "",
        "| what | median | min | max | target |", "|---|---|---|---|---|",
        f"| one cold query (`vtt plan glm-4.7-flash --quant Q8_0 --context 65536 --json`, a new process, 9 runs) "
        f"| {statistics.median(singles):.3f} s | {min(singles):.3f} s | {max(singles):.3f} s | < 0.5 s |",
        f"| 10,000 queries (`vtt plan --batch`, 4 models x 4 depths, one process, 3 runs) "
        f"| {statistics.median(batches):.3f} s | {min(batches):.3f} s | {max(batches):.3f} s | < 3 s |", "",
    ]
    (HERE / "bench_plan.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
