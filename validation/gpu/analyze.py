"""Ingest the lent GPU's llama-bench results, score the predictions made before them, calibrate on
half of the configurations and score the other half; memory against llama.cpp's own buffers;
Vulkan vs CUDA with `vtt drift`'s statistics. Writes validation/gpu/REPORT.md.

    .venv/bin/python validation/gpu/analyze.py
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RES = HERE / "results"
sys.path.insert(0, str(HERE))
import matrix  # noqa: E402  (validation/gpu/matrix.py: the models and tests)

from vtt.calibrate.dataset import MAX_SAMPLE_SPREAD, sample_spread  # noqa: E402
from vtt.calibrate.pipeline import calibrate_rows  # noqa: E402
from vtt.calibrate.rows import store_rows  # noqa: E402
from vtt.drift.compare import compare_runs  # noqa: E402
from vtt.harness.ingest import ingest_files  # noqa: E402
from vtt.harness.memory import parse_bench_verbose_log  # noqa: E402
from vtt.plan import plan_many  # noqa: E402
from vtt.specs.catalog import default_world  # noqa: E402
from vtt.store import open_store, results  # noqa: E402

MIB = 2**20
KIND = {"llama-3.1-8b": "dense GQA", "qwen3-30b-a3b": "MoE", "gpt-oss-20b": "SWA MoE", "glm-4.7-flash": "MLA MoE"}


def ape(pred, meas):
    return abs(pred / meas - 1) * 100


def med_p90(xs):
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    if not xs:
        return "-"
    return f"{statistics.median(xs):.1f} / {np.percentile(xs, 90):.1f} (n={len(xs)})"


def load(db: Path) -> dict[str, list[dict]]:
    ingest_files([RES / "vulkan.jsonl"], db=db, label="vulkan", hardware=matrix.HARDWARE, backend="vulkan-nvidia")
    ingest_files([RES / "vulkan2.jsonl"], db=db, label="vulkan2", hardware=matrix.HARDWARE, backend="vulkan-nvidia")
    ingest_files([RES / "vulkan-r5.jsonl"], db=db, label="vulkan-r5", hardware=matrix.HARDWARE, backend="vulkan-nvidia")
    ingest_files([RES / "cuda.jsonl"], db=db, label="cuda", hardware=matrix.HARDWARE, backend="cuda")
    with open_store(db, read_only=True) as s:
        return {lab: results(s, label=lab) for lab in ("vulkan", "vulkan2", "vulkan-r5", "cuda")}


def header_files(tmp: Path) -> dict[str, Path]:
    return {matrix.file_name(*m): matrix.write(*m, tmp, header_only=True) for m in matrix.MODELS}


def model_of(name: str) -> str:
    return next(m for m, _, _ in matrix.MODELS if name.startswith(m + "-"))


def test_of(r: dict) -> str:
    return "tg" if r.get("n_gen") else "pp"


def memory_blocks() -> list[dict]:
    """Per llama-bench test, in order: llama.cpp's KV and compute buffers (from -v)."""
    text = gzip.decompress((RES / "vulkan-stderr.log.gz").read_bytes()).decode(errors="replace")
    return parse_bench_verbose_log(text)


N_SEEDS = 10


def split_half(rows: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """Configurations (model x flash-attention x depth) split at random, half per model: the
    training rows (all of that half) and the steady held-out rows. Models in sorted order, so the
    split depends on the seed only (a set's order changes with the process' hash seed)."""
    rng = np.random.default_rng(seed)
    train_cfg = set()
    for m in sorted({r["model_file"] for r in rows}):
        cfgs = sorted({(r["model_file"], int(r["flash_attn"]), int(r["n_depth"])) for r in rows if r["model_file"] == m})
        rng.shuffle(cfgs)
        train_cfg |= set(cfgs[: len(cfgs) // 2])
    key = lambda r: (r["model_file"], int(r["flash_attn"]), int(r["n_depth"]))  # noqa: E731
    train = [r for r in rows if key(r) in train_cfg]
    test = [r for r in rows if key(r) not in train_cfg and not r["unstable"]]
    return train, test


def score_split(rows: list[dict], seed: int, world) -> tuple[float, float]:
    """Median held-out tg and pp % error of one seeded split (fit on its training half only)."""
    from vtt.calibrate.dataset import build_dataset
    from vtt.calibrate.validate import abs_pct, predicted_tps

    train, test = split_half(rows, seed)
    cal, _ = calibrate_rows(train, world, matrix.HARDWARE, "vulkan-nvidia", cross_validation=False)
    ds = build_dataset(test, world, world.get_hardware(matrix.HARDWARE))
    e = abs_pct(predicted_tps(ds, cal.all_params()), ds.measured)
    return float(np.median(e[ds.is_tg])), float(np.median(e[~ds.is_tg]))


def matrix_rows(tmp: Path) -> tuple[list[dict], dict]:
    """The Vulkan matrix rows (both sessions) as calibration rows, each resolved through its model's
    exact header, marked unstable where its repetitions spread too far; and every run by label."""
    runs = load(tmp / "gpu.duckdb")
    files = header_files(tmp)
    rows = store_rows(runs["vulkan"]) + store_rows(runs["vulkan2"])
    for r in rows:
        r["model_file"] = Path(r["model"]).name
        r["model"] = str(files[r["model_file"]])  # resolve through the exact header
        r["arch"] = model_of(r["model_file"])
        r["mla_v_less"] = True  # the pinned llama.cpp (0c1e570, 2026-10) caches K only for MLA
        cv = sample_spread(r.get("samples_ns"))
        r["unstable"] = cv is not None and cv > MAX_SAMPLE_SPREAD
    return rows, runs


def main() -> None:
    world = default_world()
    tmp = Path(tempfile.mkdtemp(prefix="vtt-gpu-an-"))
    rows, runs = matrix_rows(tmp)
    preds = {(p["model_file"], p["test"], p["flash_attn"], p["n_depth"]): p
             for p in map(json.loads, (HERE / "predictions.jsonl").read_text().splitlines())}

    # 1. predictions made before the measurements (physics defaults)
    before = defaultdict(list)
    pre_rows = []
    for r in rows:
        t = test_of(r)
        p = preds[(r["model_file"], t, int(r["flash_attn"]), int(r["n_depth"]))]
        meas = r["tg_tps"] if t == "tg" else r["pp_tps"]
        e = ape(p[f"{t}_tps"], meas)
        before[(r["arch"], t)].append(e)
        before[("all", t)].append(e)
        if not r["unstable"]:
            before[("stable", t)].append(e)
        pre_rows.append((r["model_file"], t, r["flash_attn"], r["n_depth"], p[f"{t}_tps"], meas, p["predicted_at"]))

    # 2. calibrate on half of the configurations, score the other half
    train, test = split_half(rows, 0)
    n_unstable = sum(r["unstable"] for r in rows)
    cal, _ = calibrate_rows(train, world, matrix.HARDWARE, "vulkan-nvidia", cal_id="h100-vulkan-half",
                            notes="validation/gpu/analyze.py: half of the configurations", cross_validation=False)
    qs = [{"model": r["model"], "context": r["n_prompt"] + r["n_gen"] + r["n_depth"], "depth": r["n_depth"],
           "n_prompt": max(r["n_prompt"], 1), "n_gen": max(r["n_gen"], 1), "flash_attn": bool(r["flash_attn"]), "mla_v_less": True,
           "hardware": matrix.HARDWARE, "backend": "vulkan-nvidia"} for r in test]
    after = defaultdict(list)
    after_in = defaultdict(list)
    from vtt.calibration import export_user_calibration

    export_user_calibration(cal)  # plan_many picks the newest user calibration
    for q in qs:
        q["calibration"] = cal.id
    for r, a in zip(test, plan_many(qs, world)):
        t = test_of(r)
        meas = r["tg_tps"] if t == "tg" else r["pp_tps"]
        lo, hi = a[f"{t}_tps_interval"]
        e = ape(a[f"{t}_tps"], meas)
        after[(r["arch"], t)].append(e)
        after[("all", t)].append(e)
        after_in[t].append(lo <= meas <= hi)

    # one split of ~60 rows is a noisy score (a few configurations decide the median): the same
    # rule with seeds 1-9 as well, each fitted on its own training half only
    seeds = [(0, statistics.median(after[("all", "tg")]), statistics.median(after[("all", "pp")]))]
    for seed in range(1, N_SEEDS):
        seeds.append((seed, *score_split(rows, seed, world)))

    # 3. memory: vtt's weights / KV / compute against llama.cpp's own buffers (-v)
    blocks = memory_blocks()
    mem = defaultdict(list)
    mem_rows = []
    run1 = [r for r in rows if r.get("label") == "vulkan"]
    if len(blocks) == len(run1):
        mq = [{"model": r["model"], "context": r["n_prompt"] + r["n_gen"] + r["n_depth"], "depth": 0,
               "n_prompt": 1, "n_gen": 1, "flash_attn": bool(r["flash_attn"]), "mla_v_less": True, "hardware": matrix.HARDWARE,
               "backend": "vulkan-nvidia"} for r in run1]
        for r, a, b in zip(run1, plan_many(mq, world), blocks):
            w_meas = sum(b["model"].values())
            c_meas = b["compute"].get("Vulkan0", 0.0)
            b = {**b, "kv": b["kv_bytes"]}
            for part, pred, meas in (("weights", a["weights_bytes"], w_meas), ("kv", a["kv_cache_bytes"], b["kv"]),
                                     ("compute", a["compute_buffer_gib"] * 2**30, c_meas)):
                mem[(r["arch"], part)].append(ape(pred, meas))
                mem[("all", part)].append(ape(pred, meas))
            mem_rows.append((r["model_file"], r["flash_attn"], a["context"], a["weights_bytes"] / MIB, w_meas / MIB,
                             a["kv_cache_bytes"] / MIB, b["kv"] / MIB, a["compute_buffer_gib"] * 1024, c_meas / MIB,
                             b["compute"].get("Vulkan_Host", 0.0) / MIB))

    # 4. Vulkan vs CUDA (same llama.cpp commit, same files, -r 5)
    drift = compare_runs(runs["vulkan-r5"], runs["cuda"], min_effect=0.05, alpha=0.01, across=("backends",))

    write_report(rows, before, after, after_in, mem, mem_rows, drift, cal, train, test, pre_rows, n_unstable, seeds)


def write_report(rows, before, after, after_in, mem, mem_rows, drift, cal, train, test, pre_rows, n_unstable, seeds) -> None:
    fp = (RES / "fingerprint.txt").read_text()
    bw = re.search(r"([\d.]+) GB/s", fp)
    archs = ["dense GQA", "MoE", "SWA MoE", "MLA MoE"]
    inv = {v: k for k, v in KIND.items()}
    L = ["# vtt on a real GPU: llama.cpp Vulkan on the lent NVIDIA H100", "",
         "Regenerate: `.venv/bin/python validation/gpu/analyze.py` (ingests `results/*.jsonl` with `vtt ingest` "
         "into a scratch DuckDB). Device runs: `validation/gpu/run.sh` (Vulkan build + matrix) and "
         "`validation/gpu/run_cuda.sh` (CUDA build + subset); predictions: `validation/gpu/matrix.py predict`.", "",
         "## What ran", "",
         "- Card: NVIDIA H100 80GB HBM3, driver 580.159.04, 16 vCPU (Xeon, KVM) — `results/fingerprint.txt`.",
         f"- Device copy bandwidth measured there: {bw.group(1) if bw else '?'} GB/s (PyTorch device-to-device copy, "
         "read + write counted; datasheet 3,350 GB/s). Recorded in `specs/hardware/h100-sxm-80.yaml`.",
         "- llama.cpp commit 0c1e570 (llama-cpp-python 0.3.36 sdist), built on the device with Debian 13's glslc "
         "(KHR_coopmat, NV_coopmat2, integer dot product supported) — `NV_coopmat2` matrix cores in use; and the same "
         "source built with CUDA for sm_90.",
         f"- Models written there with `vtt.gguf.write` (random weights, real architectures): "
         + ", ".join(f"`{matrix.file_name(*m)}`" for m in matrix.MODELS) + ".",
         f"- Vulkan: {len(rows)} llama-bench rows in two runs (pp512 and tg128 at depths 0/4K/16K/32K with flash "
         "attention, 0/4K without; -r 3): run 1 all six models (72 rows), run 2 with the GPU warmed first, the "
         "first four before its time limit (48 rows); plus 8 rows at -r 5 for the CUDA comparison. CUDA: 8 rows (-r 5).", "",
         "## 1. Predicted first (physics defaults), then measured", "",
         "`predictions.jsonl` was committed before any measurement (its `predicted_at` times precede the runs; "
         "the `vulkan-nvidia` backend's physics defaults, no calibration). Absolute % error, median / p90:", "",
         "| architecture | tg | pp |", "|---|---|---|"]
    for k in archs:
        L.append(f"| {k} | {med_p90(before[(inv[k], 'tg')])} | {med_p90(before[(inv[k], 'pp')])} |")
    L.append(f"| **all** | {med_p90(before[('all', 'tg')])} | {med_p90(before[('all', 'pp')])} |")
    L.append(f"| all steady rows | {med_p90(before[('stable', 'tg')])} | {med_p90(before[('stable', 'pp')])} |")
    L += ["", f"{n_unstable} of {len(rows)} rows are unsteady: their repetitions spread more than "
          f"{MAX_SAMPLE_SPREAD:.0%} of their mean (pyperf's rule). In run 1 they are the first tests of each llama-bench "
          "invocation (pp512 at depth 0): the GPU was still ramping its clocks from idle (345 MHz idle, 1,980 MHz "
          "under load), e.g. Llama F16 pp512 samples 4,053 / 4,790 / 13,581 t/s. Run 2 warmed the GPU first and "
          "ran depth 4096 first: its depth-0 rows are steady (13,415 / 13,221 / 13,633), but the first repetition "
          "after a 16K-32K prefill is often slow (1,606 / 5,267 / 5,279). They are kept in the data and in the "
          "table above, but neither fitted nor scored below.", "",
          "## 2. Calibrated on half of the configurations, scored on the other half", "",
          f"Configurations (model x flash-attention x depth, pp and tg together) split at random, half per model "
          f"(seed 0): {len(train)} rows offered to the fit (unsteady ones are dropped by the fit), {len(test)} steady "
          f"rows held out. Fitted parameters: "
          + ", ".join(f"{k}={v:.3g}" for k, v in cal.params.items()) + ".", "",
          "| architecture | tg | pp |", "|---|---|---|"]
    for k in archs:
        L.append(f"| {k} | {med_p90(after[(inv[k], 'tg')])} | {med_p90(after[(inv[k], 'pp')])} |")
    L.append(f"| **all** | {med_p90(after[('all', 'tg')])} | {med_p90(after[('all', 'pp')])} |")
    cov = {t: (100 * sum(v) / len(v) if v else float("nan")) for t, v in after_in.items()}
    L += ["", f"Held-out rows inside vtt's 90 % interval: tg {cov.get('tg', float('nan')):.0f} %, "
          f"pp {cov.get('pp', float('nan')):.0f} %. Targets: tg <= 5 %, pp <= 10 % median.", "",
          f"One split of ~60 rows is a noisy score, so the same rule is repeated with seeds 0-{len(seeds) - 1}, each "
          "fitted on its own training half only (median held-out % error per split):", "",
          "| seed | " + " | ".join(str(s[0]) for s in seeds) + " | mean |",
          "|---|" + "---|" * (len(seeds) + 1),
          "| tg | " + " | ".join(f"{s[1]:.1f}" for s in seeds) + f" | **{np.mean([s[1] for s in seeds]):.1f}** |",
          "| pp | " + " | ".join(f"{s[2]:.1f}" for s in seeds) + f" | **{np.mean([s[2] for s in seeds]):.1f}** |", ""]
    L += ["## 3. Memory: vtt against llama.cpp's own buffers", "",
          "llama-bench `-v` prints each buffer it allocates (`load_tensors: ... model buffer size`, "
          "`llama_kv_cache: size`, `sched_reserve: Vulkan0 compute buffer size`). vtt's answer for the same file and "
          "context (n_ctx = n_prompt + n_gen + n_depth) against them, absolute % error median / p90:", "",
          "| architecture | weights | KV cache | compute buffer (device) |", "|---|---|---|---|"]
    for k in archs:
        L.append(f"| {k} | {med_p90(mem[(inv[k], 'weights')])} | {med_p90(mem[(inv[k], 'kv')])} | "
                 f"{med_p90(mem[(inv[k], 'compute')])} |")
    L.append(f"| **all** | {med_p90(mem[('all', 'weights')])} | {med_p90(mem[('all', 'kv')])} | "
             f"{med_p90(mem[('all', 'compute')])} |")
    L += ["", "<details><summary>Per test (MiB)</summary>", "",
          "| file | fa | n_ctx | weights vtt | weights llama.cpp | KV vtt | KV llama.cpp | compute vtt | compute llama.cpp | host compute |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for m in mem_rows:
        L.append("| " + " | ".join([m[0], str(m[1]), str(m[2])] + [f"{x:.1f}" for x in m[3:]]) + " |")
    L += ["", "</details>", "", "## 4. Vulkan against CUDA (`vtt drift --across backends`)", "",
          "Same llama.cpp commit, same files, -r 5 each; Mann-Whitney U on per-repetition t/s, alpha 0.01, "
          "effect floor 5 %. CUDA is the candidate: 'regression' means CUDA is slower than Vulkan.", "",
          "| model | test | Vulkan t/s | CUDA t/s | change | p | verdict |", "|---|---|---|---|---|---|---|"]
    for v in drift.verdicts:
        L.append(f"| {v.key.get('model')} | {v.test} | {v.baseline_tps:.1f} | {v.candidate_tps:.1f} | "
                 f"{v.change:+.1%} | {v.p_value:.3g} | {v.verdict} |")
    L += ["", "## Observations", "",
          "- The first pp512 test of each llama-bench invocation (d0, flash attention on) is often slower than the "
          "same test at depth 4096 (e.g. Llama F16 7,475 vs 11,116 t/s): the warm-up run does not absorb all "
          "pipeline creation on this driver. Those rows are kept as measured; they are the largest pp residuals.",
          "- Before calibration the physics defaults of `vulkan-nvidia` were far off for prompt processing "
          "(defaults assumed ~5 % of the 989 TFLOPS tensor peak; llama.cpp's Vulkan coopmat2 path reaches more) "
          "and close for generation (bandwidth-bound).", "",
          "<details><summary>Predictions made before the runs vs measured (t/s)</summary>", "",
          "| file | test | fa | depth | predicted | measured | predicted_at |", "|---|---|---|---|---|---|---|"]
    for p in pre_rows:
        L.append(f"| {p[0]} | {p[1]} | {p[2]} | {p[3]} | {p[4]:.1f} | {p[5]:.1f} | {p[6]} |")
    L += ["", "</details>", ""]
    (HERE / "REPORT.md").write_text("\n".join(L))
    print("\n".join(L[:60]))


if __name__ == "__main__":
    main()
