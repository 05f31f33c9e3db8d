"""Is planning a split as fast as a single-box `vtt plan`? Writes validation/bench_plan_split.md.

    .venv/bin/python validation/bench_plan_split.py

Start to finish, as a user types it: one cold `vtt plan MODEL ... --json` (a new process) against the same
line with `--boxes 2`, interleaved and taken as medians (as validation/bench_plan.py does), for a small
dense-MoE model, a 355B MoE that only fits split, and one that fits either way. Also in one process: a
10,000-query batch with and without `boxes: 2`, and the first query of a fresh process (the cold part of
the work, without the imports).
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CASES = [("glm-4.7-flash", "Q8_0"), ("glm-4.7", "Q4_K_M"), ("gpt-oss-120b", "MXFP4")]
FIRST = """
import sys, time
from vtt.plan import plan_many
from vtt.specs.catalog import default_world
w = default_world()
q = {"model": sys.argv[1], "quant": sys.argv[2], "context": 65536}
if sys.argv[3] == "split":
    q["boxes"] = 2
t = time.perf_counter(); a = plan_many([q], w); print(time.perf_counter() - t)
"""


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - t


def cold(model: str, quant: str, runs: int) -> tuple[float, float]:
    vtt = str(BIN / "vtt")
    line = [vtt, "plan", model, "--quant", quant, "--context", "65536", "--json"]
    timed(line), timed([*line, "--boxes", "2"])         # warm the file cache, .pyc files and spec cache
    one, two = [], []
    for _ in range(runs):
        one.append(timed(line))
        two.append(timed([*line, "--boxes", "2"]))
    return statistics.median(one), statistics.median(two)


def first_query(model: str, quant: str, runs: int) -> tuple[float, float]:
    py = str(BIN / "python")
    one, two = [], []
    for _ in range(runs):
        for kind, out in (("one", one), ("split", two)):
            r = subprocess.run([py, "-c", FIRST, model, quant, kind], capture_output=True, text=True, check=True)
            out.append(float(r.stdout.strip().splitlines()[-1]))
    return statistics.median(one), statistics.median(two)


def batch(split: bool) -> float:
    rng = random.Random(1)
    models = ["gpt-oss-20b", "glm-4.7-flash", "qwen3-30b-a3b", "gpt-oss-120b"]
    lines = []
    for _ in range(10_000):
        d = rng.choice([0, 4096, 16384, 32768])
        q = {"model": rng.choice(models), "quant": "Q8_0", "context": d + 4096, "depth": d, "n_prompt": 512,
             "n_gen": 128, "hardware": "strix-halo-128", "backend": "vulkan-radv"}
        if split:
            q["boxes"] = 2
        lines.append(json.dumps(q))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    t = statistics.median(timed([str(BIN / "vtt"), "plan", "--batch", f.name, "--json"]) for _ in range(3))
    os.unlink(f.name)
    return t


def main() -> None:
    runs = int(os.environ.get("RUNS", "9"))
    subprocess.run([str(BIN / "python"), "-m", "compileall", "-q", str(HERE.parent / "toolkit" / "vtt")], check=True)
    rows = []
    for model, quant in CASES:
        c1, c2 = cold(model, quant, runs)
        f1, f2 = first_query(model, quant, max(3, runs // 2))
        rows.append(f"| {model} {quant} @ 65536 | {c1:.3f} s | {c2:.3f} s | **{c2 / c1:.2f}x** | "
                    f"{f1 * 1e3:.0f} ms | {f2 * 1e3:.0f} ms |")
    b1, b2 = batch(False), batch(True)
    md = [
        "# `vtt plan --boxes 2` speed against a single-box `vtt plan`", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
        f"{os.getloadavg()[0]:.2f} when measured (the machine is shared: medians of {runs} interleaved runs). "
        "Regenerate: `.venv/bin/python validation/bench_plan_split.py`.", "",
        "| query | cold `vtt plan` | cold `vtt plan --boxes 2` | ratio | first query in-process, one box | split |",
        "|---|---|---|---|---|---|", *rows, "",
        f"10,000-query batch (4 models x 4 depths): one box {b1:.2f} s, `boxes: 2` {b2:.2f} s ({b2 / b1:.2f}x).", "",
        "What a split adds: vtt.plan_split (imported only for a split), the per-device layer placement and the "
        "network terms (numpy over the queries of one model), and the tensor list per device. That list was a "
        "second walk over every tensor of the file type's mix (~20 ms for a 92-layer MoE, as much as the rest "
        "of the query); the weight profile's walk is now memoised (vtt.cost.weights.mix_rows) and reused. "
        "Measured once before and after that change (first query in-process, median of 7, same machine): glm-4.7 "
        "Q4_K_M split 44.7 -> 23.6 ms (one box 15.5-19.0 ms), glm-4.7-flash Q8_0 split 35.9 -> 22.3 ms (one box "
        "11.7-19.6 ms).", "",
        "Since 2026-12-01 a single cold query of either kind is answered without pydantic's models from the "
        "cached specs (vtt.lightweight; validation/bench_plan.md), so a cold `vtt plan --boxes 2` stays within "
        "the run-to-run noise of a single-box one (0.9-1.4x over these runs on a shared 2-core machine).", "",
        "What is left: the batch of splits runs 1.4-2.3x the single-box batch (2.4-4.1 s for 10,000 on "
        "2026-12-01, the same with the code before that day). A split answer carries a dict per device and the "
        "named network terms, and pydantic validating and serialising every answer is about a third of the "
        "batch in a profile (0.9 of 3.3 s: 20,000 validate_python and 10,000 to_python calls).", "",
    ]
    (HERE / "bench_plan_split.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
