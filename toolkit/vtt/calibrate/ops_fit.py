"""Efficiencies from operator rows (`vtt bench ops`: test-backend-ops perf), Vidur's idea with
llama.cpp's own tool: time one kernel at one shape, divide its FLOPs by the time and the card's peak.

What operator rows can and cannot say. A kernel timed alone runs hotter than inside a model (no
launch gaps, warm caches, no other kernels), so its share of peak is not the model-level `ce_*` or
`attn_pp_eff` vtt fits to llama-bench rows. What transfers is the *ratio* between shapes run by
the same backend on the same card: Q4_0 against F16 weights, head width 256 against 128, the MLA
latent against GQA. So:

- `attention_efficiency_from_ops(rows)` -> {(path, head_width_band): share of FP16 peak} of prefill-
  shaped flash attention (n_q > 1); the interface helper "attn" calls.
- `matmul_efficiency_from_ops(rows)` -> {quant family: share of FP16 peak} of ubatch-wide weight
  matmuls (n >= 256), and `decode_bandwidth_from_ops(rows)` the weight bytes / time of n = 1
  matmuls against the card's bandwidth.
- `fill_from_ops(params, fitted, rows)`: after a llama-bench fit, a quant family or head-width law
  the llama-bench rows could not identify takes its value from an identified one times the
  operator ratio (in place of the fixed physics ratio of `vtt.calibrate.fit.TIED`).

The kernel path of a row comes from `vtt.cost.attention.fa_path` (llama.cpp's dispatch, by backend,
head width and GQA) where that module exists, else 'fa'.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

HEAD_WIDTH_BANDS = ((128, "<=128"), (256, "129-256"), (10**9, ">256"))


def head_width_band(width: int) -> str:
    return next(name for hi, name in HEAD_WIDTH_BANDS if width <= hi)


def _world(world):
    if world is None:
        from vtt.specs.catalog import default_world

        world = default_world()
    return world


def _peak_flops(row: dict, world) -> float | None:
    hw = row.get("hardware")
    if not hw:
        return None
    try:
        h = world.get_hardware(hw)
    except Exception:  # an unknown hardware id: the row cannot be put against a peak
        return None
    if (row.get("backend") or "") == "cpu" or str(row.get("backend_name") or "").upper() == "CPU":
        return (h.cpu_tflops or h.fp16_tflops / 20) * 1e12
    return h.fp16_tflops * 1e12


def _path_of(row: dict, world) -> str:
    d = row["shape"]
    try:
        from vtt.cost.attention import fa_path
    except ImportError:
        return "fa"
    be = row.get("backend")
    try:
        spec = world.get_backend(be) if be else None
    except Exception:
        spec = None
    if spec is None:
        return "fa"
    dev = getattr(spec, "device", None)
    dev = dev.model_dump() if hasattr(dev, "model_dump") else dev  # a pydantic Device spec, or a plain dict
    return str(fa_path(spec.api, dev, [d["d_k"]], [d["n_head"] / d["n_head_kv"]])[0])


def _geo(xs) -> float:
    xs = [x for x in xs if x and x > 0 and math.isfinite(x)]
    return float(np.exp(np.mean(np.log(xs)))) if xs else float("nan")


def attention_efficiency_from_ops(rows: list[dict], world=None, *, min_kv: int = 4096) -> dict[tuple[str, str], float]:
    """{(kernel path, head-width band): geometric-mean share of FP16 peak} of flash-attention
    prefill rows (n_q > 1, KV length >= min_kv: short KV is launch-bound, not the kernel's rate)."""
    world = _world(world)
    groups = defaultdict(list)
    for r in rows:
        d = r.get("shape") or {}
        if r.get("op") != "FLASH_ATTN_EXT" or d.get("n_q", 0) <= 1 or d.get("n_kv", 0) < min_kv:
            continue
        peak = _peak_flops(r, world)
        if not peak or not r.get("flops_s"):
            continue
        groups[(_path_of(r, world), head_width_band(d["d_k"]))].append(r["flops_s"] / peak)
    return {k: _geo(v) for k, v in groups.items()}


def matmul_efficiency_from_ops(rows: list[dict], world=None, *, min_n: int = 256) -> dict[str, float]:
    """{quant family (f16, q8, legacy, k, mxfp4, iq): share of FP16 peak} of weight matmuls at
    prefill width (MUL_MAT with n >= min_n tokens)."""
    from vtt.harness.ops import QUANT_FAMILY

    world = _world(world)
    groups = defaultdict(list)
    for r in rows:
        d = r.get("shape") or {}
        if r.get("op") != "MUL_MAT" or d.get("n", 0) < min_n:
            continue
        peak = _peak_flops(r, world)
        fam = QUANT_FAMILY.get(d.get("type"))
        if peak and fam and r.get("flops_s"):
            groups[fam].append(r["flops_s"] / peak)
    return {k: _geo(v) for k, v in groups.items()}


def decode_bandwidth_from_ops(rows: list[dict], world=None) -> dict[str, float]:
    """{quant family: weight bytes read per second / the card's datasheet bandwidth} of mat-vec
    rows (MUL_MAT with n = 1): the share of bandwidth a decode step's weight reads reach."""
    from vtt.ggml_types import tensor_bytes
    from vtt.harness.ops import QUANT_FAMILY

    world = _world(world)
    groups = defaultdict(list)
    for r in rows:
        d = r.get("shape") or {}
        if r.get("op") != "MUL_MAT" or d.get("n") != 1 or not r.get("time_us") or not r.get("hardware"):
            continue
        try:
            h = world.get_hardware(r["hardware"])
        except Exception:
            continue
        fam = QUANT_FAMILY.get(d.get("type"))
        if fam:
            nbytes = tensor_bytes(d["type"], (d["k"], d["m"]))
            groups[fam].append(nbytes / (r["time_us"] * 1e-6) / (h.mem_bandwidth_gbs * 1e9))
    return {k: _geo(v) for k, v in groups.items()}


CE_PARAM = {"f16": "ce_f16", "q8": "ce_q8", "legacy": "ce_legacy", "k": "ce_k", "mxfp4": "ce_mxfp4", "iq": "ce_iq"}


def fill_from_ops(params: dict, fitted: list[str], rows: list[dict], world=None) -> tuple[dict, list[str]]:
    """Parameters the llama-bench fit could not identify, from operator ratios. Returns the updated
    params and one note per value set.

    ce_<family> not fitted, some other ce_ fitted: ce_fam = ce_anchor x op_eff(fam) / op_eff(anchor),
    the anchor being the fitted family with the most similar operator efficiency.
    fa_hw2 (the head-width law of the reference path, when the model has one) not fitted: the log2
    slope of the reference path's efficiency over head-width bands."""
    world = _world(world)
    out, notes = dict(params), []
    mm = matmul_efficiency_from_ops(rows, world)
    anchors = [f for f, p in CE_PARAM.items() if p in fitted and f in mm and mm[f] > 0]
    for fam, p in CE_PARAM.items():
        if p in fitted or fam not in mm or not anchors:
            continue
        a = min(anchors, key=lambda x: abs(math.log(mm[x] / mm[fam])))
        out[p] = float(params[CE_PARAM[a]] * mm[fam] / mm[a])
        notes.append(f"{p} = {CE_PARAM[a]} x {mm[fam]:.3g}/{mm[a]:.3g} (operator rows)")
    from vtt.cost.throughput import PARAM_DEFAULTS

    if "fa_hw2" in PARAM_DEFAULTS and "fa_hw2" not in fitted:
        att = attention_efficiency_from_ops(rows, world)
        by_path = defaultdict(dict)
        for (path, band), v in att.items():
            by_path[path][band] = v
        mids = {"<=128": 128, "129-256": 256, ">256": 512}
        for path, bands in by_path.items():
            if "<=128" in bands and len(bands) >= 2:
                xs = [math.log2(mids[b] / 128) for b in bands]
                ys = [math.log(v) for v in bands.values()]
                slope = float(np.polyfit(xs, ys, 1)[0])
                out["fa_hw2"] = float(math.exp(slope))
                notes.append(f"fa_hw2 = {out['fa_hw2']:.3g} from {path} operator rows over {sorted(bands)}")
                break
    return out, notes
