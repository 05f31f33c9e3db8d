"""Do the operator depth curves carry to llama-bench at depth? The H200 check of vtt.cost.depth_curve.

`vtt bench ops --profile depth` times FLASH_ATTN_EXT alone at KV 4K-64K; `vtt calibrate` stores the rate's ratio
between lengths per attention shape, and prompts at depth on models of that shape are charged along it. The
sweep of this folder (results/coopmat2.sql: the H200's default kernel, n_q 512 among others) is such a
profile for four shapes. Two of the H200's llama-bench sets have models of those shapes, measured on other
days and never fitted with the curves: gpt-oss-20b in the matrix (validation/h200, depths 0-32K) and the
Qwen3.6 hybrids (validation/h200_unseen second run, depths 0-16K). Here the shipped H200 quick calibration
is refitted from its own rows (validation/kind_physics/refit_h200.py) twice, without and with the sweep's
rows, and both answer those rows.

    .venv/bin/python validation/fa_depth/transfer.py     # the table of REPORT.md's "Transfer" section

The second check ran on the device on purpose: the Qwen3.6 hybrids (the 35B-A3B shape is the one whose kernel
gains most with KV length on the H200, 1.30x from 4K to 64K at 512 rows) through llama-bench at six depths, and the
depth profile of their two shapes in the same session. Predicted before the run from the shipped H200
calibration, with and without the sweep's curves:

    python validation/fa_depth/transfer.py cases      # transfer_cases.txt: the depth profile of the two shapes
    python validation/fa_depth/transfer.py predict    # predictions_transfer.jsonl (commit before the run)
    LLAMA_BIN_DIR=/tmp/build-vk/bin OUT=/tmp/out bash validation/fa_depth/transfer_run.sh   # on the GPU
    python validation/fa_depth/transfer.py analyze    # from results_transfer/
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for p in (ROOT / "toolkit", HERE.parent / "kind_physics", HERE.parent / "h200", HERE.parent / "h200_unseen", HERE.parent / "gpu"):
    sys.path.insert(0, str(p))


def op_rows(sql: Path, cases) -> list[dict]:
    """A test-backend-ops SQL file's timed rows as `vtt bench ops` stores them (vtt.harness.ops.sql_records)."""
    from vtt.harness.ops import sql_records

    return [r for r in sql_records(sql.read_text().splitlines(), cases) if r["time_us"]]


def sweep_op_rows(mode: str = "coopmat2") -> list[dict]:
    """The sweep's rows, of one run, as this card's stored operator rows."""
    import sweep

    return [{**r, "hardware": "h200-141", "backend": "vulkan-nvidia", "run_id": f"fa_depth-{mode}"}
            for r in op_rows(HERE / "results" / f"{mode}.sql", [c for _, c in sweep.cases()])]


def shipped_calibration():
    """The shipped H200 calibration; answers from its variants go through a fresh XDG data home (_answers
    exports each variant there, where `vtt plan --calibration` finds it)."""
    from vtt.calibration import load_calibration_file

    os.environ["XDG_DATA_HOME"] = str(Path(tempfile.mkdtemp(prefix="vtt-fa-transfer-")) / "xdg")
    return load_calibration_file(ROOT / "toolkit/vtt/_specs/calibrations/h200-141/vulkan-nvidia.yaml")


def hybrid_rows(cal, tmp: Path) -> list[dict]:
    """The Qwen3.6 hybrids' steady llama-bench rows (h200_unseen second run) with `cal`'s answers."""
    from matrix import header_files
    from unseen import HYBRID, N_GEN, N_PROMPT, UNSTEADY

    from vtt.calibration import export_user_calibration
    from vtt.plan import plan_many

    export_user_calibration(cal)
    files = {p.name: p for p in header_files(HYBRID, "vtt-transfer-")}
    out = []
    for r in map(json.loads, open(HERE.parent / "h200_unseen" / "results_hybrid" / "bench.jsonl")):
        name, d, test = Path(r["model_filename"]).name, r["n_depth"], "tg" if r["n_gen"] else "pp"
        if name not in files or not r["avg_ts"] or r["stddev_ts"] / r["avg_ts"] > UNSTEADY:
            continue
        (a,) = plan_many([{"model": str(files[name]), "context": N_PROMPT + N_GEN + d, "depth": d,
                           "n_prompt": N_PROMPT, "n_gen": N_GEN, "flash_attn": True, "hardware": cal.hardware,
                           "backend": cal.backend, "calibration": cal.id}])
        out.append({"model": name.split("-20L")[0].split("-25L")[0], "test": test, "depth": d,
                    "err": a[f"{test}_tps"] / r["avg_ts"] - 1, "factor": a.get("attn_depth_factor")})
    return out


def matrix_rows(cal, tmp: Path) -> list[dict]:
    """The matrix rows the quick fit did not use (both sessions), with `cal`'s answers."""
    import analyze
    import common

    H200 = HERE.parent / "h200"
    common.predict_matrix(cal, tmp / f"{cal.id}.jsonl", tag=cal.id, header_dir=tmp)
    preds = {analyze.key(p): p for p in analyze.read_jsonl(tmp / f"{cal.id}.jsonl")}
    quick = {analyze.key(r) for r in analyze.measured(H200 / "results-mla", "quick")}
    out = []
    for r in analyze.measured(H200 / "results-mla", "matrix") + analyze.measured(H200 / "results", "matrix"):
        p = preds.get(analyze.key(r))
        if p is None or analyze.key(r) in quick or not r["steady"]:
            continue
        out.append({"file": r["model_file"], "test": r["test"], "depth": r["n_depth"], "fa": r["flash_attn"],
                    "err": p["tps"] / r["tps"] - 1})
    return out


HYBRID_MODELS = ("qwen3.6-35b-a3b", "qwen3.6-27b")
DEPTHS = (0, 4096, 8192, 16384, 32768, 65536)
N_PROMPT = 512


def write_cases(out: Path = HERE / "transfer_cases.txt") -> None:
    from vtt.harness.ops import op_cases

    cases = op_cases("depth", models=list(HYBRID_MODELS))
    out.write_text("".join(c.file_line() + "\n" for c in cases))
    print(f"{len(cases)} cases -> {out}")


def _answers(cal, files, tag: str) -> list[dict]:
    from vtt.calibration import export_user_calibration
    from vtt.plan import plan_many

    export_user_calibration(cal)
    qs = [{"model": str(f), "context": N_PROMPT + d, "depth": d, "n_prompt": N_PROMPT, "n_gen": 0, "flash_attn": True,
           "hardware": cal.hardware, "backend": cal.backend, "calibration": cal.id} for f in files for d in DEPTHS]
    return [{"model_file": Path(q["model"]).name, "n_depth": q["depth"], "variant": tag, "pp_tps": a["pp_tps"],
             "pp_tps_interval": a["pp_tps_interval"], "attn_depth_factor": a.get("attn_depth_factor", 1.0)}
            for q, a in zip(qs, plan_many(qs))]


def predict(out: Path = HERE / "predictions_transfer.jsonl") -> None:
    """pp512 at each depth from the shipped H200 calibration, linear and with this folder's sweep curves."""
    from dataclasses import replace
    from datetime import datetime, timezone

    from matrix import header_files
    from unseen import HYBRID

    from vtt.cost.depth_curve import curves_from_ops

    shipped = shipped_calibration()
    curved = replace(shipped, id=shipped.id + "--fa-depth-sweep", attn_depth=curves_from_ops(sweep_op_rows()))
    files = header_files(HYBRID, "vtt-transfer-")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = _answers(replace(shipped, id=shipped.id + "--linear"), files, "linear") + _answers(curved, files, "curved")
    out.write_text("".join(json.dumps({"predicted_at": stamp, **r}) + "\n" for r in rows))
    print(f"{len(rows)} predictions -> {out}")


def _session_answers(curves: list[dict]) -> dict:
    """pp512 of the hybrids at each depth from the shipped calibration with `curves`."""
    from dataclasses import replace

    from matrix import header_files
    from unseen import HYBRID

    shipped = shipped_calibration()
    rows = _answers(replace(shipped, id=shipped.id + "--session", attn_depth=curves), header_files(HYBRID, "vtt-tr-"), "s")
    return {(r["model_file"], r["n_depth"]): r["pp_tps"] for r in rows}


def analyze(results: Path = HERE / "results_transfer") -> str:
    """Measured pp at each depth against both predictions, and the depth ratio pp(d) / pp(0) of each; the
    session's own operator curves beside the sweep's."""
    from vtt.cost.depth_curve import curves_from_ops
    from vtt.harness.ops import op_cases

    pred = {(p["model_file"], p["n_depth"], p["variant"]): p
            for p in map(json.loads, (HERE / "predictions_transfer.jsonl").read_text().splitlines())}
    meas = {}
    for r in map(json.loads, (results / "bench.jsonl").read_text().splitlines()):
        if r.get("n_prompt") and not r.get("n_gen"):
            meas[(Path(r["model_filename"]).name, int(r["n_depth"]))] = (r["avg_ts"], r["stddev_ts"] / r["avg_ts"])
    session_curves = curves_from_ops(op_rows(results / "ops.sql", op_cases("depth", models=list(HYBRID_MODELS))))
    session = {c["geometry"]: c for c in session_curves}
    after = _session_answers(session_curves)  # not a prediction: the same session's operator rows
    L = ["| model | depth | measured t/s (spread) | vtt linear | with the sweep's curve | pp(d) / pp(4K): measured | "
         "linear | sweep's curve | session's curve (after) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (f, d), (m, sp) in sorted(meas.items()):
        a, b = pred.get((f, d, "linear")), pred.get((f, d, "curved"))
        ref = 4096  # the 35B file's depth-0 row ran unsteady and below its own 4K row: ratios against 4K
        m4, a4, b4 = meas.get((f, ref), (None,))[0], pred.get((f, ref, "linear")), pred.get((f, ref, "curved"))
        if not (a and b and m4 and a4 and b4):
            continue
        c, c4 = after.get((f, d)), after.get((f, ref))
        L.append(f"| {f.split('-q8')[0]} | {d} | {m:.0f} ({100 * sp:.1f} %) | {a['pp_tps']:.0f} ({100 * (a['pp_tps'] / m - 1):+.1f} %) | "
                 f"{b['pp_tps']:.0f} ({100 * (b['pp_tps'] / m - 1):+.1f} %) | {m / m4:.3f} | {a['pp_tps'] / a4['pp_tps']:.3f} | "
                 f"{b['pp_tps'] / b4['pp_tps']:.3f} | {c / c4:.3f} |")
    L.append("")
    L.append("Session operator curves (time per FLOP against 4K): " + "; ".join(
        f"{g}: " + ", ".join(f"{k // 1024}K {v:.2f}" for k, v in zip(c["n_kv"], c["slowdown"])) for g, c in session.items()))
    return "\n".join(L)


def main() -> None:
    from refit_h200 import refit

    from vtt.cost.depth_curve import curves_from_ops

    tmp = Path(tempfile.mkdtemp(prefix="vtt-fa-transfer-"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "xdg")
    ops = sweep_op_rows()
    linear, _ = refit()
    curved, _ = refit(extra_ops=ops)
    curved.id += "--depth"
    print("curves:", json.dumps(curves_from_ops(ops)))
    print("attn_pp_eff linear", round(linear.params["attn_pp_eff"], 4), "with curves", round(curved.params["attn_pp_eff"], 4))
    lines = ["| rows | test | depth | n | median abs error, linear | with the depth curves |", "|---|---|---|---:|---:|---:|"]
    for name, get in (("matrix gpt-oss-20b", lambda c: [r for r in matrix_rows(c, tmp) if "gpt-oss" in r["file"]]),
                      ("matrix, other models", lambda c: [r for r in matrix_rows(c, tmp) if "gpt-oss" not in r["file"]]),
                      ("Qwen3.6 hybrids", lambda c: hybrid_rows(c, tmp))):
        a, b = get(linear), get(curved)
        for test in ("pp", "tg"):
            for band, sel in (("0", lambda r: r["depth"] == 0), (">0", lambda r: r["depth"] > 0)):
                ea = [abs(r["err"]) for r in a if r["test"] == test and sel(r)]
                eb = [abs(r["err"]) for r in b if r["test"] == test and sel(r)]
                if ea:
                    lines.append(f"| {name} | {test} | {band} | {len(ea)} | {100 * statistics.median(ea):.1f} % | "
                                 f"{100 * statistics.median(eb):.1f} % |")
        for r, s in zip(a, b):
            if r["test"] == "pp" and r["depth"] > 0:
                print(f"  {name:22s} {r.get('file') or r.get('model'):40.40s} d{r['depth']:<6d} linear {100 * r['err']:+6.1f} %  "
                      f"curved {100 * s['err']:+6.1f} %" + (f"  (x{s['factor']:.3f})" if s.get("factor") else ""))
    print("\n".join(lines))


if __name__ == "__main__":
    cmd = sys.argv[1:2]
    if cmd == ["cases"]:
        write_cases()
    elif cmd == ["predict"]:
        predict()
    elif cmd == ["analyze"]:
        print(analyze())
    elif not cmd:
        main()
    else:
        sys.exit(__doc__)
