"""Run 3 part B (results-h200-run3b/: one rpc-server, Llama 3.1 8B at 8 layers and gpt-oss-20b) scored
with a cluster calibration fitted by chain.py on run 3 alone (one fixed per-graph cost: run 3's two
models have graphs of one size, 285 and 290 tensors, so a per-tensor part is not identified there):
the network per token and per prompt as vtt prices it against the measured rpc1 - local difference,
and vtt's whole answer against the measured rpc1 speed. The shipped calibration is fitted on runs 3
and 3b together and cannot be scored on 3b; chain.py scores it leave-one-model-out.

    .venv/bin/python validation/rpc/heldout_run3b.py   # prints the table, writes results-h200-run3b/heldout.json
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gpu"))
from matrix import write  # noqa: E402

RES = HERE / "results-h200-run3b"
MODELS = [("llama-3.1-8b", 8, "q8_0"), ("gpt-oss-20b", 24, "mxfp4")]


def _rows(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def _tps(r: dict) -> float:  # the median of the repetitions, as analyze.py scores them
    return statistics.median(r["samples_ts"]) if r.get("samples_ts") else r["avg_ts"]


def run3_world():
    """The default world with h200-vulkan-rpc1's calibration refitted on run 3's rows and clocks only."""
    import copy

    sys.path.insert(0, str(HERE))
    import chain

    from vtt.specs.catalog import default_world

    rows = chain.load_rows()
    windows, cmax, idle = chain.clock_windows()
    saved, chain.LINK_RUNS = chain.LINK_RUNS, ("run3",)
    try:
        cal = chain.calibrate(rows, windows, cmax, idle, per_tensor=False)
    finally:
        chain.LINK_RUNS = saved
    w = copy.copy(default_world())
    w.clusters = dict(w.clusters)
    cl = w.clusters["h200-vulkan-rpc1"]
    c = cl.calibration.model_copy(update={
        "rpc_graph_us": cal["rpc_graph_s"] * 1e6, "rpc_tensor_us": None, "bandwidth_gbps": cal["bytes_per_s"] * 8e-9,
        "duty_clock": cl.calibration.duty_clock.model_copy(update={"knee": cal["knee"], "idle_factor": cal["idle_factor"]})})
    w.clusters["h200-vulkan-rpc1"] = cl.model_copy(update={"calibration": c})
    print(f"run 3 alone: rpc_graph_us {c.rpc_graph_us:.0f}, payload {c.bandwidth_gbps:.1f} Gbit/s, knee {cal['knee']:.3f}")
    return w


def main() -> list[dict]:
    from vtt.plan import plan_many

    world = run3_world()

    local = {(Path(r["model_filename"]).name, "pp" if r["n_prompt"] else "tg", r["n_depth"]): _tps(r)
             for r in _rows(RES / "local.jsonl")}
    tmp = Path(tempfile.mkdtemp(prefix="vtt-rpc3b-"))
    files = {p.name: p for p in (write(*m, tmp, header_only=True) for m in MODELS)}
    out = []
    for r in _rows(RES / "rpc1.jsonl"):
        name, test, d = Path(r["model_filename"]).name, "pp" if r["n_prompt"] else "tg", r["n_depth"]
        base = {"model": str(files[name]), "context": 512 + 128 + d, "depth": d, "n_prompt": 512, "n_gen": 128,
                "flash_attn": True, "hardware": "h200-141", "backend": "vulkan-nvidia"}
        (a,) = plan_many([{**base, "cluster": "h200-vulkan-rpc1"}], world)
        meas, loc = _tps(r), local[(name, test, d)]
        per = 1 if test == "tg" else 512  # ms per token (tg) or per 512-token prompt (pp)
        net_pred = a["network"]["tg_ms_per_token"] if test == "tg" else a["network"]["pp_s"] * 1e3
        on_local = per * 1e3 / (per * 1e3 / loc + net_pred)
        out.append({"model": name, "test": test, "depth": d, "measured": round(meas, 1), "local": round(loc, 1),
                    "net_ms_measured": round(per * 1e3 / meas - per * 1e3 / loc, 3), "net_ms_predicted": round(net_pred, 3),
                    "err_on_measured_local": round(on_local / meas - 1, 4), "vtt": round(a[f"{test}_tps"], 1),
                    "err_vtt": round(a[f"{test}_tps"] / meas - 1, 4)})
    (RES / "heldout.json").write_text(json.dumps(out, indent=1) + "\n")
    print("| model | test | depth | measured t/s | network ms measured / vtt | error on the measured local speed | vtt's whole answer |")
    print("|---|---|---|---|---|---|---|")
    for x in out:
        print(f"| {x['model']} | {x['test']} | {x['depth']} | {x['measured']:.0f} | {x['net_ms_measured']:.2f} / "
              f"{x['net_ms_predicted']:.2f} | {x['err_on_measured_local'] * 100:+.1f} % | {x['vtt']:.0f} ({x['err_vtt'] * 100:+.1f} %) |")
    return out


if __name__ == "__main__":
    main()
