"""The Python steps of validation/h200/run.sh on the GPU machine (numpy, pyyaml, pydantic, gguf, duckdb;
no scipy, no typer).

    python3 validation/h200/device.py write DIR I...     # write quick/matrix models I (matrix.MODELS index)
    python3 validation/h200/device.py ops OUT            # vtt bench ops --profile quick on Vulkan0 -> OUT/ops.jsonl
    python3 validation/h200/device.py fit OUT            # quick.jsonl + ops -> calibration_quick.yaml,
                                                         # predictions_quick.jsonl (the rest of the matrix)
    python3 validation/h200/device.py plan               # shell lines: "I FA DEPTHS" still to run per model
    python3 validation/h200/device.py name I             # model I's file name (models(): matrix + quick-only)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import common
from common import matrix

DB = Path(os.environ.get("VTT_H200_DB", "/tmp/h200.duckdb"))


def models() -> list[tuple[str, int, str]]:
    """matrix.MODELS, then the quick models the matrix lacks (the MLA cell's GLM-4.7-Flash 8L Q4_0): the
    model indices of `write`, `name` and `plan`."""
    from vtt.calibrate.quick import QUICK_MODELS

    return list(matrix.MODELS) + [m for m in QUICK_MODELS if m not in matrix.MODELS]


def quick_runs():
    """(model index, fa, depths) of the quick llama-bench set (vtt.calibrate.quick.QUICK_RUNS)."""
    from vtt.calibrate.quick import QUICK_MODELS, QUICK_RUNS

    return [(models().index(QUICK_MODELS[mi]), fa, depths) for mi, fa, depths in QUICK_RUNS]


def quick_keys() -> set[tuple[str, int, int]]:
    return {(matrix.file_name(*models()[i]), fa, d) for i, fa, ds in quick_runs() for d in ds}


def rest_plan() -> list[tuple[int, int, list[int]]]:
    """Per model (quick models first) and flash-attention setting, the matrix depths not in the quick set."""
    q = quick_keys()
    order = sorted(range(len(matrix.MODELS)), key=lambda i: (i not in {j for j, _, _ in quick_runs()}, i))
    out = []
    for i in order:
        name = matrix.file_name(*matrix.MODELS[i])
        for fa, depths in ((1, matrix.DEPTHS_FA), (0, matrix.DEPTHS_NOFA)):
            left = [d for d in depths if (name, fa, d) not in q]
            if left:
                out.append((i, fa, left))
    return out


def cmd_write(out_dir: str, *idx: str) -> None:
    """Write each model, then FILE.done beside it (run.sh waits for that, not for the file)."""
    header_only = os.environ.get("H200_HEADER_ONLY") == "1"  # a dry run of run.sh off the GPU machine
    for i in idx:
        f = matrix.write(*models()[int(i)], Path(out_dir), header_only=header_only)
        Path(str(f) + ".done").touch()
        print(f)


def cmd_ops(out: str) -> None:
    from vtt.harness.ops import bench_ops, op_cases

    lines = []
    s = bench_ops(op_cases("quick"), backend=os.environ.get("OPS_BACKEND", "Vulkan0"), db=DB, label="h200-ops",
                  hardware=common.HARDWARE, vtt_backend=common.BACKEND, timeout_s=float(os.environ.get("OPS_TIMEOUT", "150")),
                  on_result=lines.append)
    Path(out, "ops.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    print(json.dumps({k: v for k, v in s.items() if k != "missing"}), f"missing {len(s['missing'])}")


def cmd_fit(out: str) -> None:
    from vtt.calibration import load_calibration_file, write_calibration_yaml
    from vtt.calibrate.pipeline import load_op_rows
    from vtt.calibrate.quick import fit_quick
    from vtt.calibrate.rows import store_rows
    from vtt.harness.ingest import ingest_files
    from vtt.specs.catalog import default_world
    from vtt.store import open_store, results

    world = default_world()
    tmp = Path(tempfile.mkdtemp(prefix="vtt-h200-fit-"))
    ingest_files([Path(out, "quick.jsonl")], db=DB, label="h200-quick", hardware=common.HARDWARE, backend=common.BACKEND)
    with open_store(DB, read_only=True) as s:
        rows = store_rows(results(s, label="h200-quick"))
    files = {matrix.file_name(*m): matrix.write(*m, tmp, header_only=True) for m in models()}
    rows = [common.prepare_row(r, files) for r in rows]
    prior = load_calibration_file(common.HERE / "prior_from_h100.yaml")
    op_rows = load_op_rows(str(DB), common.HARDWARE, common.BACKEND)
    cal = fit_quick(rows, world, common.HARDWARE, common.BACKEND, prior, op_rows=op_rows,
                    cal_id="h200-141--vulkan-nvidia--quick")
    write_calibration_yaml(cal, Path(out, "calibration_quick.yaml"),
                           "# vtt calibrate --quick on the H200 (validation/h200/run.sh), before the matrix ran\n")
    q = quick_keys()
    n = common.predict_matrix(cal, Path(out, "predictions_quick.jsonl"), tag="quick", header_dir=tmp,
                              skip=lambda name, fa, d: (name, fa, d) in q)
    print(f"quick fit: {cal.n_points} rows ({len(cal.residual_stats['rows_skipped'])} skipped), "
          f"{len(op_rows)} operator rows, {n} predictions; "
          + ", ".join(f"{k}={cal.params[k]:.3g}" for k in cal.param_names))


def cmd_name(i: str) -> None:
    print(matrix.file_name(*models()[int(i)]))


def cmd_plan() -> None:
    for i, fa, depths in quick_runs():
        print("Q", i, fa, ",".join(map(str, depths)))
    for i, fa, depths in rest_plan():
        print("M", i, fa, ",".join(map(str, depths)))


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"write": cmd_write, "ops": cmd_ops, "fit": cmd_fit, "plan": cmd_plan, "name": cmd_name}[cmd](*args)
