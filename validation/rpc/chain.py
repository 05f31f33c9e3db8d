"""Two rpc-servers in a chain: calibrate the link on one rpc-server alone, the clock law on sampled clocks,
and score the 1/1 and 3/1 splits of all three H200 runs on data neither was fitted to.

    python validation/rpc/chain.py            # prints the tables quoted in REPORT.md, writes chain-analysis.json
    python validation/rpc/chain.py calibrate  # the `calibration:` block of specs/clusters/h200-vulkan-*.yaml

What is fitted, and to what (never to the scored tok/s of a split):
* link: the per-graph rpc-server cost from tg and the payload rate of tensor transfers from pp512,
  both on `rpc1` rows (every layer on one rpc-server, run 3);
* duty_clock: clock / clock_max = duty / knee (>= the idle clock, <= 1), one parameter, fitted to the
  GPU clocks run 3 sampled every 200 ms (clocks.csv.gz) against each device's duty as vtt predicts it
  (its compute at full clock over the token's predicted wall time).
Folds: a run-3 row uses the link and clock law fitted on the *other* model of run 3 (leave-one-model-
out); a run-1 or run-2 row uses them fitted on all of run 3 (leave-run-out: runs 1-2 have no rpc1 rows
and no clocks). As in analyze.py, each row starts from its own measured one-GPU speed (local.jsonl),
so what is scored is the chain: the link, the second device, its clock.

The model is vtt's own (vtt.cost.cluster.chain_compute, as vtt.plan_split uses it): per graph (token
or 512-token ubatch), each device computes share x local time at full clock; the network is bytes /
rate + remote devices x (round trip + per-graph cost) + the second device's sync; each device's duty
is its compute over that wall time, and its compute is divided by duty_clock_factor(duty).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from vtt.cost.cluster import chain_compute, duty_clock_factor

HERE = Path(__file__).resolve().parent
RUNS = {"run1": ("results-h200", "predictions.jsonl"), "run2": ("results-h200-run2", "predictions-run2.jsonl"),
        "run3": ("results-h200-run3", "predictions-run3.jsonl"),
        "run3b": ("results-h200-run3b", "predictions-run3.jsonl")}  # one GPU: local + rpc1 of two more models
if (HERE / "results-h200-run4" / "rpc.jsonl").exists():  # run 4 (run_gpu.sh RPC_MODELS=run4): leave-run-out too
    RUNS["run4"] = ("results-h200-run4", "predictions-run4.jsonl")
SPLITS = (("rpc1", [1.0]), ("x2", [1.0, 1.0]), ("x2", [3.0, 1.0]), ("x2", [1.0, 3.0]))
CAL_RUN = "run3"  # the run whose clocks fit the clock law (and the "before" method's link)
LINK_RUNS = ("run3", "run3b")  # the runs with rpc1 rows: the link is fitted on them, leave-one-model-out
RTT_S = 25e-6  # specs/links/loopback.yaml (run 3's fingerprint measured 18 µs for a python echo)


sys.path[:0] = [str(HERE), str(HERE.parent / "gpu")]
from analyze import _rows, _tps  # noqa: E402  (analyze imports chain only inside a function)


_TENSORS: dict[str, int] = {}


def graph_tensors(model_file: str) -> int:
    """Weight tensors of a model's blocks and output layer: what the rpc-servers' graphs are built
    around when they hold every layer (rpc1, and both H200 splits: the main process keeps none)."""
    if model_file not in _TENSORS:
        import tempfile

        from matrix import write  # validation/gpu/matrix.py (on sys.path above)

        from vtt.cost.cluster import place_tensors
        from vtt.gguf.reader import read_gguf_header

        stem = model_file.removesuffix(".gguf")
        model, n_layer, wtype = stem.rsplit("-", 2)
        path = write(model, int(n_layer.rstrip("L")), wtype, Path(tempfile.mkdtemp(prefix="vtt-chain-")), header_only=True)
        h = read_gguf_header(path)
        tp = place_tensors([(t.name, float(t.n_bytes)) for t in h.tensors], int(n_layer.rstrip("L")))
        _TENSORS[model_file] = int(tp.slot_tensors.sum())
    return _TENSORS[model_file]


def load_rows() -> list[dict]:
    """Every rpc row of the three runs with what the chain model needs: shares of the layers' bytes per
    device, the measured local time per graph, the bytes crossing the link, sync terms (as predicted)."""
    out = []
    for run, (d, pf) in RUNS.items():
        res = HERE / d
        preds = {(p["model_file"], p.get("config", "x2"), tuple(float(x) for x in p["tensor_split"]), p["test"],
                  p["n_depth"]): p for p in _rows(HERE / pf)}
        local = {(Path(r["model_filename"]).name, "pp" if r["n_prompt"] else "tg", r["n_depth"]): _tps(r)
                 for r in _rows(res / "local.jsonl")}
        for cfg, name in (("x2", "rpc.jsonl"), ("rpc1", "rpc1.jsonl")):
            if not (res / name).exists():
                continue
            for r in _rows(res / name):
                ts = tuple(float(x) for x in r["tensor_split"].split("/")[:2]) if cfg == "x2" else (1.0,)
                test = "pp" if r["n_prompt"] else "tg"
                m = Path(r["model_filename"]).name
                p = preds.get((m, cfg, ts, test, r["n_depth"]))
                loc = local.get((m, test, r["n_depth"]))
                if p is None or loc is None:
                    continue
                n, w = p["network"], [dv["weights_bytes"] for dv in p["devices"]]
                per = 1 if test == "tg" else r["n_prompt"]
                out.append({
                    "run": run, "model": m, "config": cfg, "split": list(ts), "test": test, "depth": r["n_depth"],
                    "measured_tps": _tps(r), "local_tps": loc, "per": per, "test_time": r["test_time"],
                    "shares": [x / sum(w) for x in w], "remote_devices": n["remote_devices"],
                    "bytes": n["tg_bytes_per_token"] if test == "tg" else n["pp_bytes"],
                    "sync_s": n["tg_device_sync_ms"] * 1e-3 if test == "tg" else n["pp_device_sync_s"],
                    "graphs": 1 if test == "tg" else max(1, -(-per // 512)),
                    "tensors": graph_tensors(m),
                })
    return out


def predict_s(x: dict, cal: dict, clock: bool = True) -> tuple[float, list, list]:
    """Seconds per graph span (a token, or the prompt) through the chain; (time, duties, clock factors)."""
    c = np.array([[s * x["per"] / x["local_tps"] for s in x["shares"]]])
    net = (x["bytes"] / cal["bytes_per_s"] + x["graphs"] * x["remote_devices"] * (RTT_S + cal["rpc_graph_s"])
           + x["graphs"] * x["tensors"] * cal.get("rpc_tensor_s", 0.0) + x["sync_s"])
    knee = cal.get("knee") if clock else None
    duty, f, extra = chain_compute(c, np.array([net]), knee, cal.get("idle_factor", 0.0))
    return float(c.sum() + net + extra[0]), duty[0].tolist(), f[0].tolist()


def fit_link(rows: list[dict], per_tensor: bool = True) -> dict:
    """Per-graph cost (tg) and payload rate (pp) from rpc1 rows: tg pays mostly the graph cost, pp512
    mostly the bytes; solved together by a few alternations. The graph cost is a fixed part plus a part
    per tensor of the graph (least squares over the tg rows) where the rows have graphs of more than one
    size, else one median."""
    r1 = [x for x in rows if x["config"] == "rpc1"]
    tg = [x for x in r1 if x["test"] == "tg"]
    sizes = np.array([x["tensors"] for x in tg], dtype=float)
    g, gt, bps = 1e-3, 0.0, 5e9
    for _ in range(8):
        extra = np.array([x["per"] / x["measured_tps"] - x["per"] / x["local_tps"] - x["bytes"] / bps - RTT_S for x in tg])
        if per_tensor and len(set(sizes)) > 1:
            (g, gt), *_ = np.linalg.lstsq(np.c_[np.ones_like(sizes), sizes], extra, rcond=None)
            if gt < 0:  # a graph cost that falls with the graph is no physics: one fixed cost then
                g, gt = float(np.median(extra)), 0.0
        else:
            g, gt = float(np.median(extra)), 0.0
        bps = statistics.median(x["bytes"] / (x["per"] / x["measured_tps"] - x["per"] / x["local_tps"] - RTT_S - g
                                              - gt * x["tensors"]) for x in r1 if x["test"] == "pp")
    return {"rpc_graph_s": max(float(g), 0.0), "rpc_tensor_s": float(gt), "bytes_per_s": bps}


# ---- clocks: run 3 sampled nvidia-smi's SM clock every 200 ms (run_gpu.sh) ----

def _utc(s: str, fmt: str) -> float:
    return dt.datetime.strptime(s, fmt).replace(tzinfo=dt.timezone.utc).timestamp()


def clock_windows(run: str = CAL_RUN, results: Path | None = None) -> list[dict]:
    """Median SM clock of each GPU over each tg test of a run (llama-bench's test_time starts the window;
    its warm-up and repetitions, or the next test, end it). pp512 tests last 0.3 s: too few samples.
    `results`: a results folder that is not one of RUNS (run 5, one GPU: onegpu_run5.py)."""
    res = results or HERE / RUNS[run][0]
    samples = []
    for line in gzip.open(res / "clocks.csv.gz", "rt"):
        f = [v.strip() for v in line.split(",")]
        samples.append((_utc(f[0], "%Y/%m/%d %H:%M:%S.%f"), int(f[1]), int(f[2].split()[0])))
    tests = []
    for cfg, name in (("local", "local.jsonl"), ("rpc1", "rpc1.jsonl"), ("x2", "rpc.jsonl")):
        if not (res / name).exists():  # run 3b: one GPU, no splits
            continue
        for r in _rows(res / name):
            tests.append((_utc(r["test_time"], "%Y-%m-%dT%H:%M:%SZ"), cfg, r))
    tests.sort(key=lambda t: t[0])
    clock_max = max(s[2] for s in samples)
    idle = min(s[2] for s in samples)
    out = []
    for i, (t0, cfg, r) in enumerate(tests):
        if r["n_prompt"]:
            continue
        end = min(tests[i + 1][0] if i + 1 < len(tests) else 1e18, t0 + 1.0 + (len(r["samples_ns"]) + 1) * statistics.mean(r["samples_ns"]) / 1e9)
        for gpu in (0, 1):
            s = [c for t, g, c in samples if g == gpu and t0 + 0.5 <= t < end]
            if len(s) >= 5:
                ts = [float(x) for x in r["tensor_split"].split("/")[:2]] if cfg == "x2" else [1.0]
                out.append({"model": Path(r["model_filename"]).name, "config": cfg, "split": ts, "depth": r["n_depth"],
                            "gpu": gpu, "samples": len(s), "clock_mhz": statistics.median(s),
                            "factor": statistics.median(s) / clock_max})
    return out, clock_max, idle


def clock_points(windows: list[dict], rows: list[dict], cal: dict, run: str = CAL_RUN) -> list[dict]:
    """(predicted duty, measured clock factor) of every device in every tg window: the local runs (one GPU,
    busy all the time: duty 1) and each rpc-server's GPU. GPU g is rpc-server g (run_gpu.sh)."""
    pts = []
    for w in windows:
        if w["config"] == "local":
            if w["gpu"] == 0:
                pts.append({**w, "duty": 1.0})
            continue
        x = next((r for r in rows if r["run"] == run and r["model"] == w["model"] and r["config"] == w["config"]
                  and r["split"] == w["split"] and r["test"] == "tg" and r["depth"] == w["depth"]), None)
        if x is None or w["gpu"] >= len(x["shares"]):
            continue
        _, duty, _ = predict_s(x, cal, clock=False)
        pts.append({**w, "duty": duty[w["gpu"]]})
    return pts


def fit_knee(pts: list[dict], idle_factor: float) -> float:
    """Least squares of the clock factor over the one parameter `knee` (a grid: the law is not smooth)."""
    knees = np.linspace(0.1, 1.0, 901)
    d = np.array([p["duty"] for p in pts])
    f = np.array([p["factor"] for p in pts])
    err = [((duty_clock_factor(d, k, idle_factor) - f) ** 2).sum() for k in knees]
    return float(knees[int(np.argmin(err))])


def calibrate(rows: list[dict], windows, clock_max: float, idle: float, exclude_model: str | None = None,
              per_tensor: bool = True) -> dict:
    train = [r for r in rows if r["run"] in LINK_RUNS and r["model"] != exclude_model]
    cal = fit_link(train, per_tensor)
    pts = clock_points([w for w in windows if w["model"] != exclude_model], rows, cal)
    cal["idle_factor"] = idle / clock_max
    cal["knee"] = fit_knee(pts, cal["idle_factor"])
    cal["clock_points"] = len(pts)
    return cal


def old_graph_cost(rows: list[dict], exclude_model: str | None) -> float:
    """The method before this change (analyze.py's speed_link_calibrated_loo): the per-graph cost that
    explains every tg row through the rpc-servers (both splits and rpc1) of run 3 less the excluded
    model, with the declared loopback rate (40 Gbit/s)."""
    tr = [r for r in rows if r["run"] == CAL_RUN and r["model"] != exclude_model and r["test"] == "tg"]
    return max(statistics.median((r["per"] / r["measured_tps"] - r["per"] / r["local_tps"] - r["bytes"] / 5e9
                                  - r["remote_devices"] * RTT_S) / r["remote_devices"] for r in tr), 0.0)


def score() -> dict:
    rows = load_rows()
    windows, clock_max, idle = clock_windows()
    held_models = sorted({r["model"] for r in rows if r["run"] in LINK_RUNS})
    cals = {m: calibrate(rows, windows, clock_max, idle, m) for m in held_models}
    fixed = {m: calibrate(rows, windows, clock_max, idle, m, per_tensor=False) for m in held_models}
    cal_all = calibrate(rows, windows, clock_max, idle)
    fixed_all = calibrate(rows, windows, clock_max, idle, per_tensor=False)
    out = []
    for x in rows:
        held = x["run"] in LINK_RUNS
        cal = cals[x["model"]] if held else cal_all
        cal_fixed = fixed[x["model"]] if held else fixed_all
        old = {"rpc_graph_s": old_graph_cost(rows, x["model"] if held else None), "bytes_per_s": 5e9}
        meas_s = x["per"] / x["measured_tps"]
        t_old, _, _ = predict_s(x, old, clock=False)
        t_link, _, _ = predict_s(x, cal, clock=False)
        t_fixed, _, _ = predict_s(x, cal_fixed, clock=True)
        t_clock, duty, f = predict_s(x, cal, clock=True)
        out.append({k: x[k] for k in ("run", "model", "config", "split", "test", "depth", "measured_tps", "local_tps")}
                   | {"fold": "leave-one-model-out (runs 3, 3b)" if held else "leave-run-out (fitted on runs 3, 3b)",
                      "err_before": meas_s / t_old - 1, "err_link": meas_s / t_link - 1,
                      "err_fixed_graph": meas_s / t_fixed - 1, "err_duty_clock": meas_s / t_clock - 1,
                      "duty": [round(v, 3) for v in duty], "clock_factor": [round(v, 3) for v in f],
                      "rpc_graph_us": round(cal["rpc_graph_s"] * 1e6, 1), "rpc_tensor_us": round(cal["rpc_tensor_s"] * 1e6, 3),
                      "tensors": x["tensors"], "payload_gbps": round(cal["bytes_per_s"] * 8e-9, 2),
                      "knee": round(cal["knee"], 3), "rpc_graph_us_before": round(old["rpc_graph_s"] * 1e6, 1)})
    return {"rows": out, "calibration_all_run3": {k: (round(v, 9) if isinstance(v, float) else v) for k, v in cal_all.items()},
            "calibration_folds": {m: {k: (round(v, 9) if isinstance(v, float) else v) for k, v in c.items()} for m, c in cals.items()},
            "clock_max_mhz": clock_max, "idle_mhz": idle,
            "clock_points": clock_points(windows, rows, cal_all), "clock_law_out_of_sample": clock_check(rows, cal_all),
            "summary": summarize(out)}


def clock_check(rows: list[dict], cal: dict) -> dict:
    """The clock law fitted on run 3 against the clocks of a later run that sampled them (run 4)."""
    out = {}
    for run, (d, _) in RUNS.items():
        if run == CAL_RUN or not (HERE / d / "clocks.csv.gz").exists():
            continue
        w, _, _ = clock_windows(run)
        pts = clock_points(w, rows, cal, run)
        err = [float(duty_clock_factor(p["duty"], cal["knee"], cal["idle_factor"])) - p["factor"] for p in pts]
        out[run] = {"points": len(pts), "median_abs_factor_err": round(statistics.median(abs(e) for e in err), 3) if err else None,
                    "rows": [{**p, "law": round(p["factor"] + e, 3)} for p, e in zip(pts, err)]}
    return out


def summarize(out: list[dict]) -> list[dict]:
    summ = []
    for run in RUNS:
        for cfg, split in SPLITS:
            for test in ("tg", "pp"):
                sel = [o for o in out if o["run"] == run and o["config"] == cfg and o["split"] == split and o["test"] == test]
                if not sel:
                    continue
                row = {"run": run, "config": cfg, "split": "/".join(f"{v:g}" for v in split), "test": test, "n": len(sel)}
                for k in ("before", "link", "fixed_graph", "duty_clock"):
                    e = [abs(o[f"err_{k}"]) for o in sel]
                    row[k] = [round(statistics.median(e), 3), round(max(e), 3)]
                summ.append(row)
    for _, split in SPLITS[1:]:  # every run together
        for test in ("tg", "pp"):
            sel = [o for o in out if o["config"] == "x2" and o["split"] == split and o["test"] == test]
            if not sel:
                continue
            row = {"run": "all", "config": "x2", "split": "/".join(f"{v:g}" for v in split), "test": test, "n": len(sel)}
            for k in ("before", "link", "fixed_graph", "duty_clock"):
                e = [abs(o[f"err_{k}"]) for o in sel]
                row[k] = [round(statistics.median(e), 3), round(max(e), 3)]
            summ.append(row)
    return summ


def table(s: dict) -> str:
    lines = ["| run | config | split | test | rows | before: median / max | rpc1-calibrated link | + duty_clock, one graph cost | + duty_clock, graph cost per tensor |",
             "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in s["summary"]:
        f = lambda v: f"{100 * v[0]:.1f} / {100 * v[1]:.1f} %"  # noqa: E731
        lines.append(f"| {r['run']} | {r['config']} | {r['split']} | {r['test']} | {r['n']} | {f(r['before'])} | {f(r['link'])} | {f(r['fixed_graph'])} | {f(r['duty_clock'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    s = score()
    if len(sys.argv) > 1 and sys.argv[1] == "calibrate":
        c = s["calibration_all_run3"]
        print(f"calibration:\n  rpc_graph_us: {c['rpc_graph_s'] * 1e6:.0f}\n  rpc_tensor_us: {c['rpc_tensor_s'] * 1e6:.3f}\n  bandwidth_gbps: {c['bytes_per_s'] * 8e-9:.1f}\n"
              f"  duty_clock: {{knee: {c['knee']:.3f}, idle_factor: {c['idle_factor']:.3f}}}")
    else:
        (HERE / "chain-analysis.json").write_text(json.dumps(s, indent=1) + "\n")
        print(table(s))
        for m, c in s["calibration_folds"].items():
            print(f"fold without {m}: rpc_graph_us {c['rpc_graph_s'] * 1e6:.0f} + {c['rpc_tensor_s'] * 1e6:.3f} per tensor, payload {c['bytes_per_s'] * 8e-9:.1f} Gbit/s, knee {c['knee']:.3f}")
        c = s["calibration_all_run3"]
        print(f"all of runs 3, 3b: rpc_graph_us {c['rpc_graph_s'] * 1e6:.0f} + {c['rpc_tensor_s'] * 1e6:.3f} per tensor, payload {c['bytes_per_s'] * 8e-9:.1f} Gbit/s, knee {c['knee']:.3f}, idle {c['idle_factor']:.3f}")
