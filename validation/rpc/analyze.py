"""Score validation/rpc/predictions.jsonl against a run of run_gpu.sh and write the GPU section data.

    python validation/rpc/analyze.py RESULTS_DIR [PREDICTIONS]  # rpc.jsonl, local.jsonl, rpc-stderr.log.gz (+ rpc1.*)

Per device: weights and KV cache from llama.cpp's -v log against vtt (exact: within the log's 0.005
MiB), compute buffers (target 10 %). Speed: vtt's pp/tg through the rpc-servers as predicted before
the run; the network term alone (measured 1/tg_rpc - 1/tg_local against vtt's), and tg/pp through
RPC when the link's per-graph cost is calibrated on the *other* model (leave-one-model-out) and
added to the measured local speed; and (`speed_chain_heldout`) the chain model of chain.py: the link
calibrated on one rpc-server alone, the duty-cycle clock law on sampled clocks, held out by model (run 3)
or by run (runs 1-2). Prints JSON; validation/rpc/REPORT.md quotes it.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
from pathlib import Path

from vtt.harness.rpc import parse_rpc_log
from vtt.units import MIB

HERE = Path(__file__).resolve().parent
ENDPOINTS = ["127.0.0.1:50052", "127.0.0.1:50053"]


def _rows(p: Path) -> list[dict]:
    out = []
    for line in p.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def _key(model, cfg, ts, test, depth):
    return (Path(model).name, cfg, tuple(float(x) for x in ts), test, int(depth))


def _tps(r: dict) -> float:
    """A test's speed: the median of its repetitions (llama-bench's avg_ts is their mean, and one
    slow first repetition after an idle GPU moves a mean of three by a third of its excess)."""
    return statistics.median(r["samples_ts"]) if r.get("samples_ts") else r["avg_ts"]


# (config, llama-bench rows, its -v log, the rpc-servers in -dev order): run 3 adds `rpc1`, every
# layer on one rpc-server
CONFIGS = (("x2", "rpc.jsonl", "rpc-stderr.log.gz", ENDPOINTS), ("rpc1", "rpc1.jsonl", "rpc1-stderr.log.gz", ENDPOINTS[:1]))


def main(res_dir: Path, predictions: Path = HERE / "predictions.jsonl") -> dict:
    preds = {_key(p["model_file"], p.get("config", "x2"), p["tensor_split"], p["test"], p["n_depth"]): p
             for p in _rows(predictions)}
    local = {(Path(r["model_filename"]).name, "pp" if r["n_prompt"] else "tg", r["n_depth"]): _tps(r)
             for r in _rows(res_dir / "local.jsonl")}
    runs = []
    for cfg, rows_name, log_name, endpoints in CONFIGS:
        if (res_dir / rows_name).exists():
            log = gzip.open(res_dir / log_name, "rt", errors="replace").read()
            runs += [(cfg, endpoints, row, lt) for row, lt in zip(_rows(res_dir / rows_name), parse_rpc_log(log))]
    mem, speed = [], []
    for cfg, endpoints, row, lt in runs:
        ts = [float(x) for x in row["tensor_split"].split("/")[:2]] if cfg == "x2" else [1.0]
        test = "pp" if row["n_prompt"] else "tg"
        p = preds.get(_key(row["model_filename"], cfg, ts, test, row["n_depth"]))
        if p is None:
            continue
        for dev, ep in zip(p["devices"], endpoints):
            mw, mk, mc = lt["model"].get(ep, 0), lt["kv"].get(ep, 0), lt["compute"].get(ep, 0)
            mem.append({"model": p["model_file"], "config": cfg, "split": ts, "test": test, "depth": row["n_depth"], "device": dev["device"],
                        "weights_ok": abs(dev["weights_bytes"] - mw) <= 0.005 * MIB + 1,
                        "kv_ok": abs(dev["kv_cache_bytes"] - mk) <= 0.005 * MIB + 1,
                        "weights_mib": [round(dev["weights_bytes"] / MIB, 2), round(mw / MIB, 2)],
                        "kv_mib": [round(dev["kv_cache_bytes"] / MIB, 2), round(mk / MIB, 2)],
                        "compute_mib": [round(dev["compute_buffer_bytes"] / MIB, 2), round(mc / MIB, 2)],
                        "compute_err": (dev["compute_buffer_bytes"] - mc) / mc if mc else None})
        meas = _tps(row)
        loc = local.get((p["model_file"], test, row["n_depth"]))
        pred = p[f"{test}_tps"]
        net_pred = p["network"]["tg_ms_per_token"] if test == "tg" else p["network"]["pp_s"] * 1e3
        per = 1 if test == "tg" else p["n_prompt"]
        net_meas = (per * 1e3 / meas - per * 1e3 / loc) if loc else None
        speed.append({"model": p["model_file"], "config": cfg, "split": ts, "test": test, "depth": row["n_depth"],
                      "measured": meas, "measured_mean": row["avg_ts"], "samples_ts": row.get("samples_ts"),
                      "layers": [dv["layers"] for dv in p["devices"]],
                      "predicted": pred, "err": (pred - meas) / meas, "local": loc, "net_ms_measured": net_meas,
                      "net_ms_predicted": net_pred, "network": p["network"]})
    # leave-one-model-out: the per-graph cost that explains the other model's tg, applied to this one
    loo = []
    models = sorted({s["model"] for s in speed})
    for m in models:
        other = [s for s in speed if s["model"] != m and s["test"] == "tg" and s["net_ms_measured"] is not None]
        if not other:
            continue
        fits = [(s["net_ms_measured"] - (s["network"]["tg_transfer_ms"] + s["network"]["tg_round_trip_ms"]))
                / s["network"]["remote_devices"] for s in other]
        graph_ms = max(statistics.median(fits), 0.0)
        for s in speed:
            if s["model"] != m or s["local"] is None:
                continue
            n = s["network"]
            if s["test"] == "tg":
                net = n["tg_transfer_ms"] + n["tg_round_trip_ms"] + n["remote_devices"] * graph_ms
                pred = 1e3 / (1e3 / s["local"] + net)
            else:
                chunks = max(1, -(-512 // 512))
                net = n["pp_transfer_s"] * 1e3 + chunks * n["remote_devices"] * (n["rtt_us"] * 1e-3 + graph_ms)
                pred = 512e3 / (512e3 / s["local"] + net)
            loo.append({**{k: s[k] for k in ("model", "config", "split", "test", "depth", "measured")}, "predicted": pred,
                        "err": (pred - s["measured"]) / s["measured"], "rpc_graph_us_fitted": graph_ms * 1e3})

    # the chain model (validation/rpc/chain.py): link calibrated on rpc1 rows, duty-cycle clocks fitted to
    # sampled clocks; run 3 leave-one-model-out, runs 1-2 leave-run-out
    import chain

    run = next((r for r, (d, _) in chain.RUNS.items() if (HERE / d).resolve() == res_dir.resolve()), None)
    ch = chain.score() if run else None
    ch_rows = [o for o in ch["rows"] if o["run"] == run] if ch else []

    def med(xs):
        xs = [abs(x) for x in xs if x is not None]
        return round(statistics.median(xs), 4) if xs else None

    return {
        "memory": {"devices": len(mem), "weights_exact": sum(m["weights_ok"] for m in mem),
                   "kv_exact": sum(m["kv_ok"] for m in mem), "compute_median_abs_err": med(m["compute_err"] for m in mem),
                   "compute_within_10pct": sum(1 for m in mem if m["compute_err"] is not None and abs(m["compute_err"]) <= 0.1),
                   "rows": mem},
        "speed_as_predicted": {"tg_median_abs_err": med(s["err"] for s in speed if s["test"] == "tg"),
                               "pp_median_abs_err": med(s["err"] for s in speed if s["test"] == "pp"), "rows": speed},
        "speed_link_calibrated_loo": {"tg_median_abs_err": med(x["err"] for x in loo if x["test"] == "tg"),
                                      "pp_median_abs_err": med(x["err"] for x in loo if x["test"] == "pp"), "rows": loo},
        "speed_chain_heldout": {
            "method": "validation/rpc/chain.py: link (fixed + per-tensor graph cost, payload rate) from the rpc1 rows of runs 3 and 3b, duty_clock from run 3 clocks; runs 3/3b leave-one-model-out, runs 1-2 leave-run-out",
            **{f"{t}_median_abs_err_{k}": med(o[f"err_{k}"] for o in ch_rows if o["test"] == t and o["config"] == "x2")
               for t in ("tg", "pp") for k in ("before", "link", "fixed_graph", "duty_clock")},
            "summary": [r for r in (ch["summary"] if ch else []) if r["run"] == run], "rows": ch_rows},
    }


if __name__ == "__main__":
    out = main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results",
               Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "predictions.jsonl")
    print(json.dumps(out, indent=1))
