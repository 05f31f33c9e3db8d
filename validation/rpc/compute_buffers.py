"""Every per-device compute buffer measured over RPC on the GPU, against vtt's answer as the code
stands now (the predictions-*.jsonl files keep what vtt said before each run; this re-asks).

    python validation/rpc/compute_buffers.py [--rows]   # JSON summary; --rows lists every device

The measured side is llama.cpp's own `-v` log of each run (`sched_reserve: ... compute buffer size`);
the rows are the same queries rpc_matrix.py asked (cluster, split, depth, test), for header-only
copies of the same generated models.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gpu"))
from matrix import write  # noqa: E402


def _rpc_analyze():
    """This folder's analyze.py by its path: validation/gpu has a module of the same name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rpc_analyze", HERE / "analyze.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

from vtt.harness.rpc import parse_rpc_log  # noqa: E402
from vtt.units import MIB  # noqa: E402

RUN_DIRS = ["results-h200", "results-h200-run2", "results-h200-run3", "results-h200-run3b"]
CLUSTERS = {"x2": "h200-vulkan-x2", "rpc1": "h200-vulkan-rpc1"}


def _model_spec(name: str) -> tuple[str, int, str]:
    """'llama-3.1-8b-32L-q8_0.gguf' -> ('llama-3.1-8b', 32, 'q8_0')."""
    stem = name.removesuffix(".gguf")
    head, wtype = stem.rsplit("-", 1)
    model, layers = head.rsplit("-", 1)
    return model, int(layers.rstrip("L")), wtype


def measured_devices() -> list[dict]:
    an = _rpc_analyze()
    CONFIGS, _rows = an.CONFIGS, an._rows  # noqa: N806
    out = []
    for run in RUN_DIRS:
        d = HERE / run
        for cfg, rows_name, log_name, endpoints in CONFIGS:
            if not (d / rows_name).exists():
                continue
            log = gzip.open(d / log_name, "rt", errors="replace").read()
            for row, lt in zip(_rows(d / rows_name), parse_rpc_log(log)):
                split = [float(x) for x in row["tensor_split"].split("/")[:2]] if cfg == "x2" else [1.0]
                for i, ep in enumerate(endpoints):
                    out.append({"run": run, "model": Path(row["model_filename"]).name, "config": cfg, "split": split,
                                "test": "pp" if row["n_prompt"] else "tg", "n_prompt": row["n_prompt"],
                                "n_gen": row["n_gen"], "depth": row["n_depth"], "device": i,
                                "measured": lt["compute"].get(ep, 0)})
    return out


def main(show_rows: bool = False) -> dict:
    from vtt.plan import plan_many

    meas = measured_devices()
    tmp = Path(tempfile.mkdtemp(prefix="vtt-cb-"))
    paths = {m: write(*_model_spec(m), tmp, header_only=True) for m in sorted({r["model"] for r in meas})}
    queries = [{"model": str(paths[r["model"]]), "context": r["n_prompt"] + r["n_gen"] + r["depth"], "depth": r["depth"],
                "n_prompt": max(r["n_prompt"], 1), "n_gen": max(r["n_gen"], 1), "flash_attn": True,
                "hardware": "h200-141", "backend": "vulkan-nvidia", "cluster": CLUSTERS[r["config"]],
                **({"tensor_split": r["split"]} if r["config"] == "x2" else {})} for r in meas]
    answers = plan_many(queries)
    rows = []
    for r, a in zip(meas, answers):
        if "error" in a:
            raise SystemExit(f"{r['model']}: {a['error']}")
        pred = a["devices"][r["device"]]["compute_buffer_bytes"]
        rows.append({**r, "predicted_mib": round(pred / MIB, 2), "measured_mib": round(r["measured"] / MIB, 2),
                     "err": round((pred - r["measured"]) / r["measured"], 4)})
    # runs 1 and 3 both measured the same Llama cells; count each (model, config, split, test, depth, device) once
    seen, unique = set(), []
    for r in rows:
        k = (r["model"], r["config"], tuple(r["split"]), r["test"], r["depth"], r["device"])
        if k not in seen:
            seen.add(k)
            unique.append(r)
    summary = {"devices": len(rows), "within_10pct": sum(abs(r["err"]) <= 0.10 for r in rows),
               "median_abs_err": round(statistics.median(abs(r["err"]) for r in rows), 4),
               "distinct_cells": len(unique), "distinct_within_10pct": sum(abs(r["err"]) <= 0.10 for r in unique),
               "misses": [{k: r[k] for k in ("run", "model", "config", "split", "test", "depth", "device",
                                              "predicted_mib", "measured_mib", "err")} for r in rows if abs(r["err"]) > 0.10]}
    if show_rows:
        summary["rows"] = rows
    return summary


if __name__ == "__main__":
    print(json.dumps(main("--rows" in sys.argv), indent=1))
