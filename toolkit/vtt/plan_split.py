"""`vtt plan --boxes N | --cluster ID`: the single-box answer, split over the cluster's devices.

The edge around the pure vtt.cost.cluster: it looks up the cluster and link specs, lists the
model's tensors (a GGUF header's, else the file type's mix scaled to the catalog's file size), and
asks `plan_many` for the one-box speed of any other hardware in the cluster.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from vtt.cost import cluster as cc
from vtt.errors import BadQuery, VttError
from vtt.specs.cluster import Box, Cluster
from vtt.specs.runtime import KV_TYPE_BYTES
from vtt.units import GIB

DEFAULT_LINK = "10gbe"
_API_DEVICE = {"vulkan": "Vulkan", "rocm": "ROCm", "cuda": "CUDA", "metal": "Metal"}


def cluster_for(q, world) -> Cluster:
    """The query's cluster: a declared one, or N boxes of the query's hardware on a link."""
    if q.cluster:
        return world.get_cluster(q.cluster)
    hw = q.hardware or "strix-halo-128"
    link = getattr(q, "link", None) or DEFAULT_LINK
    world.get_link(link)
    boxes = [Box(name=f"box{i + 1}", hardware=hw, backend=q.backend) for i in range(q.boxes)]
    return Cluster(id=f"{q.boxes}x-{hw}", name=f"{q.boxes} x {hw} on {link}", boxes=boxes, link=link)


def devices_of(cl: Cluster, world, main_backend) -> list[cc.Device]:
    """llama.cpp's device order: the rpc-servers in --rpc order, then the main host's own GPU."""
    out = []
    for i, box in enumerate(cl.boxes[1:], start=1):
        out.append(_device(world, box, i, f"RPC{i - 1}"))
    be = world.get_backend(cl.boxes[0].backend or main_backend.id)
    # llama.cpp never makes the CPU a device of the model (src/llama.cpp, llama_prepare_model_devices:
    # "skip CPU backends since they are handled separately"): a CPU main host only runs the input layer
    if cl.main_device and be.api != "cpu":
        out.append(_device(world, cl.boxes[0], 0, _API_DEVICE.get(be.api, be.api.upper()) + "0"))
    return out


def _device(world, box: Box, idx: int, name: str) -> cc.Device:
    hw = world.get_hardware(box.hardware)
    be = world.get_backend(box.backend or hw.default_backend)
    free = (box.free_gib or hw.budget_gib) * GIB
    return cc.Device(name, idx, free, hw.budget_gib * GIB, be.compute_overhead_gib * GIB)


@lru_cache(maxsize=64)
def _header_tensors(path: str) -> tuple:
    from vtt.gguf.reader import read_gguf_header

    return tuple((t.name, float(t.n_bytes)) for t in read_gguf_header(path).tensors)


def model_tensors(rm, model_name: str, world) -> list[tuple[str, float]]:
    """(name, bytes) of every tensor: the GGUF's own, or the quant mix scaled to the profile's total."""
    if rm.source in ("gguf", "gguf-url"):
        name = model_name if rm.source == "gguf-url" else str(Path(model_name).expanduser())
        return list(_header_tensors(name))
    from vtt.cost.weights import mix_rows

    ft = world.quant(rm.quant_label)
    rows = mix_rows(rm.arch, ft)  # the walk the weight profile already made (memoised)
    k = rm.weights.total_bytes / max(sum(r[2] for r in rows), 1.0)
    return [(n, b * k) for n, _, b in rows]


def with_cluster(answers: list[dict], rm, qs: list, world, cal_speed) -> list[dict]:
    """Add `devices`, per-device fits and network-adjusted speeds to single-box answers (one group:
    the same model, hardware and backend). `cal_speed(query, hardware, backend)` gives the one-box
    (pp_tps, tg_tps) on another box's hardware (heterogeneous clusters). Queries with the same
    cluster layout are answered together, vectorised."""
    out = list(answers)
    tensors = None
    shapes: dict[tuple, list[int]] = {}
    for i, (ans, q) in enumerate(zip(answers, qs)):
        if (q.boxes or q.cluster) and "error" not in ans:
            key = (q.boxes, q.cluster, q.link, q.hardware, q.backend, ans["backend"],
                   tuple(q.tensor_split) if q.tensor_split else None)
            shapes.setdefault(key, []).append(i)
    for idx in shapes.values():
        try:
            if tensors is None:
                tensors = cc.place_tensors(model_tensors(rm, qs[idx[0]].model, world), rm.arch.n_layer)
            done = _many([answers[i] for i in idx], rm, [qs[i] for i in idx], world, tensors, cal_speed)
        except VttError as e:
            done = [{k: answers[i].get(k) for k in ("model", "quant", "context")} | {"error": e.to_dict()} for i in idx]
        for i, a in zip(idx, done):
            out[i] = a
    return out


def link_cost(cl: Cluster, link) -> tuple[cc.LinkCost, object]:
    """The link's declared costs (specs/links), overridden by the cluster's own measurements
    (`calibration` in specs/clusters) where it has them. The measured rate and round trip belong to
    the cluster's own link: a query on another link keeps that link's; the per-graph cost and the
    clock law belong to the remote boxes and apply on any link. Returns (LinkCost, the calibration or None)."""
    cal = cl.calibration
    bps, rtt, graph, per_tensor = link.bytes_per_s, link.rtt_us * 1e-6, link.rpc_graph_us * 1e-6, 0.0
    if cal is not None:
        if link.id == cl.link:
            bps = cal.bandwidth_gbps * 1e9 / 8 if cal.bandwidth_gbps else bps
            rtt = cal.rtt_us * 1e-6 if cal.rtt_us else rtt
        graph = cal.rpc_graph_us * 1e-6 if cal.rpc_graph_us is not None else graph
        per_tensor = (cal.rpc_tensor_us or 0.0) * 1e-6
    return cc.LinkCost(bps, rtt, graph, per_tensor), cal


_FIXED: dict = {}


def _fixed_costs(world, hardware: str, backend: str) -> tuple[float, float]:
    """(seconds per token, seconds per ubatch) a device's own graph launch and sync costs, from the
    box's calibration (t_token_us, t_ubatch_ms)."""
    key = (id(world), hardware, backend)
    if key not in _FIXED:
        from vtt.calibration import find_calibration

        be = world.get_backend(backend)
        p = find_calibration(world.roots, hardware, backend, None, be.defaults).all_params()
        _FIXED[key] = (p["t_token_us"] * 1e-6, p["t_ubatch_ms"] * 1e-3)
    return _FIXED[key]


_LAYOUTS: dict = {}


def _layout(world, boxes, cluster, link, hardware, backend, main_backend):
    """(cluster, devices) for one query shape; cached so a batch pays for it once."""
    from types import SimpleNamespace

    key = (id(world), boxes, cluster, link, hardware, backend, main_backend)
    if key not in _LAYOUTS:
        cl = cluster_for(SimpleNamespace(boxes=boxes, cluster=cluster, link=link, hardware=hardware, backend=backend), world)
        _LAYOUTS[key] = (cl, devices_of(cl, world, world.get_backend(main_backend)))
    return _LAYOUTS[key]


def _many(answers: list[dict], rm, qs: list, world, tp: cc.TensorPlacement, cal_speed) -> list[dict]:
    """Queries of one model and one cluster layout (cluster, link, tensor split), vectorised."""
    q0, a0 = qs[0], answers[0]
    cl, devs = _layout(world, q0.boxes, q0.cluster, q0.link, q0.hardware, q0.backend, a0["backend"])
    if not devs:
        raise BadQuery(f"cluster '{cl.id}' has no devices")
    ts = q0.tensor_split or cl.tensor_split
    if ts is not None and len(ts) != len(devs):
        raise BadQuery(f"tensor_split has {len(ts)} entries for {len(devs)} devices")
    link = world.get_link(q0.link or cl.link)
    lc, cal = link_cost(cl, link)

    def col(name, dtype=None):
        return np.array([getattr(q, name) for q in qs], dtype=dtype)

    qd = {"context": col("context", np.int64), "parallel": col("parallel", np.int64),
          "n_ubatch": col("n_ubatch", np.int64), "flash_attn": col("flash_attn", bool), "depth": col("depth", np.int64),
          "n_prompt": col("n_prompt", np.int64), "n_gen": col("n_gen", np.int64),
          "mla_v_less": q0.mla_v_less, "kv_unified": q0.kv_unified, "swa_full": q0.swa_full}
    bk = np.array([KV_TYPE_BYTES[q.type_k] for q in qs])
    bv = np.array([KV_TYPE_BYTES[q.type_v] for q in qs])
    sp = cc.split_memory(rm.arch, tp, devs, qd, bk, bv, ts)
    main_box = cl.boxes[0]
    main_hw = world.get_hardware(main_box.hardware)
    host = sp.host_weights + (sp.host_compute if main_hw.unified_memory else 0.0) + sp.host_output  # (nq,)
    # on unified memory the main host's CPU buffers share its GPU's memory; on a discrete GPU they
    # live in system RAM and are answered apart (`host`)
    host_dev = next((d for d, dev in enumerate(devs) if dev.box == 0), None) if main_hw.unified_memory else None
    over = np.array([dev.overhead_bytes for dev in devs])
    extra = np.zeros((len(qs), len(devs)))
    if host_dev is not None:  # the main host's CPU buffers share the main box's memory
        extra[:, host_dev] = host
    tot = sp.weights[None, :] + sp.kv + sp.compute + over[None, :] + extra
    budgets = np.array([dev.budget_bytes for dev in devs])
    # speed: each device runs its share of the layers at its box's one-box speed, then the network
    shares = cc.compute_shares(tp, sp.slots, len(devs))
    used = [d for d in range(len(devs)) if (sp.slots == d).any()]
    chunks = -(-qd["n_prompt"] // np.maximum(qd["n_ubatch"], 1))
    pp1 = np.array([a["pp_tps"] or 0.0 for a in answers], dtype=float)
    tg1 = np.array([a["tg_tps"] or 0.0 for a in answers], dtype=float)
    c_tok = np.zeros((len(qs), len(devs)))  # seconds each device computes, at full clock
    c_pp = np.zeros((len(qs), len(devs)))
    sync_tok = np.zeros(len(qs))
    sync_pp = np.zeros(len(qs))
    for d, dev in enumerate(devs):
        box = cl.boxes[dev.box]
        key = (box.hardware, box.backend or world.get_hardware(box.hardware).default_backend)
        if key == (a0["hardware"], a0["backend"]):
            p1, g1 = pp1, tg1
        else:  # another kind of box: its one-box speed, query by query
            sp1 = [cal_speed(q, *key) for q in qs]
            p1 = np.array([x[0] for x in sp1], dtype=float)
            g1 = np.array([x[1] for x in sp1], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            c_tok[:, d] = np.where(g1 > 0, shares[d] / np.where(g1 > 0, g1, 1), 0.0)
            c_pp[:, d] = np.where(p1 > 0, shares[d] * qd["n_prompt"] / np.where(p1 > 0, p1, 1), 0.0)
        if d in used[1:]:  # a device beyond the first launches and waits for a graph of its own
            f_tok, f_ub = _fixed_costs(world, *key)
            sync_tok += f_tok
            sync_pp += chunks * f_ub
    tgn = cc.tg_network(rm.arch, devs, sp.slots, lc, qd, tp.slot_tensors)
    ppn = cc.pp_network(rm.arch, devs, sp.slots, lc, qd, tp.slot_tensors)
    net_tok = np.broadcast_to(tgn["total_s"], (len(qs),)) + sync_tok
    net_pp = np.broadcast_to(ppn["total_s"], (len(qs),)) + sync_pp
    # a device busy a small share of each token runs at a lowered clock (the cluster's measured law)
    dc = cal.duty_clock if cal is not None else None
    knee, idle = (dc.knee, dc.idle_factor) if dc is not None else (None, 0.0)
    duty_tok, fac_tok, clock_tok = cc.chain_compute(c_tok, net_tok, knee, idle)
    duty_pp, fac_pp, clock_pp = cc.chain_compute(c_pp, net_pp, knee, idle)
    net_tok = net_tok + clock_tok
    net_pp = net_pp + clock_pp
    t_tok, t_pp = c_tok.sum(axis=1), c_pp.sum(axis=1)
    tg = 1.0 / (t_tok + net_tok)
    pp_time = t_pp + net_pp
    pp = np.where(pp_time > 0, qd["n_prompt"] / np.where(pp_time > 0, pp_time, 1), 0.0)

    def arr(x):
        return np.broadcast_to(np.asarray(x, dtype=float), (len(qs),))

    tg_tr, tg_rt, tg_rg, tg_b = arr(tgn["transfer_s"]), arr(tgn["round_trip_s"]), arr(tgn["rpc_graph_s"]), arr(tgn["bytes"])
    pp_tr, pp_b = arr(ppn["transfer_s"]), arr(ppn["bytes"])
    names = [cl.boxes[dev.box].name or f"box{dev.box + 1}" for dev in devs]
    # numbers rounded as arrays, then plain floats: round() on numpy scalars costs more than the model
    kv_g, comp_g, host_g = (sp.kv / GIB).round(6).tolist(), (sp.compute / GIB).round(6).tolist(), (extra / GIB).round(6).tolist()
    tot_g, kv_b, comp_b = (tot / GIB).round(4).tolist(), sp.kv.round().astype(np.int64).tolist(), sp.compute.round().astype(np.int64).tolist()
    fits = (tot <= budgets[None, :]).tolist()
    w_g, w_b = (sp.weights / GIB).round(6).tolist(), sp.weights.round().astype(np.int64).tolist()
    net = {k: (np.asarray(v, dtype=float) * m).round(nd).tolist() for k, (v, m, nd) in {
        "tg_ms_per_token": (net_tok, 1e3, 4), "tg_transfer_ms": (tg_tr, 1e3, 4), "tg_round_trip_ms": (tg_rt, 1e3, 4),
        "tg_rpc_graph_ms": (tg_rg, 1e3, 4), "tg_device_sync_ms": (sync_tok, 1e3, 4), "tg_duty_clock_ms": (clock_tok, 1e3, 4),
        "pp_s": (net_pp, 1, 5), "pp_transfer_s": (pp_tr, 1, 5), "pp_device_sync_s": (sync_pp, 1, 5),
        "pp_duty_clock_s": (clock_pp, 1, 5)}.items()}
    duty_l, ftok_l, fpp_l = duty_tok.round(3).tolist(), fac_tok.round(3).tolist(), fac_pp.round(3).tolist()
    tg_l, pp_l, ppt_l = tg.round(2).tolist(), pp.round(2).tolist(), pp_time.round(4).tolist()
    tgb_l, ppb_l = tg_b.astype(np.int64).tolist(), pp_b.astype(np.int64).tolist()
    out = []
    for j, ans in enumerate(answers):
        devices = [{
            "device": dev.name, "box": names[d], "hardware": cl.boxes[dev.box].hardware, "remote": dev.remote,
            "layers": sp.layer_ranges[d], "output_layer": int(sp.slots[-1]) == d,
            "weights_gib": w_g[d], "kv_cache_gib": kv_g[j][d], "compute_buffer_gib": comp_g[j][d],
            "host_gib": host_g[j][d], "overhead_gib": round(dev.overhead_bytes / GIB, 4),
            "total_gib": tot_g[j][d], "budget_gib": round(dev.budget_bytes / GIB, 3), "fits": fits[j][d],
            "weights_bytes": w_b[d], "kv_cache_bytes": kv_b[j][d], "compute_buffer_bytes": comp_b[j][d],
            "tg_duty": duty_l[j][d], "tg_clock_factor": ftok_l[j][d], "pp_clock_factor": fpp_l[j][d],
        } for d, dev in enumerate(devs)]
        host_entry = None
        if host_dev is None:  # no device shares the main host's memory: its CPU buffers on their own
            host_entry = {"box": main_box.name or "box1", "weights_gib": round(sp.host_weights / GIB, 6),
                          "weights_bytes": int(round(sp.host_weights)),
                          "compute_buffer_gib": round(float(sp.host_compute[j]) / GIB, 6),
                          "total_gib": round(float(host[j]) / GIB, 4), "budget_gib": round(main_hw.budget_gib, 3),
                          "fits": bool(host[j] <= main_hw.budget_gib * GIB)}
        rt = tg_l[j] / ans["tg_tps"] if ans["tg_tps"] else 1.0
        rp = pp_l[j] / ans["pp_tps"] if ans["pp_tps"] and pp_l[j] else 1.0
        total = sum(d["total_gib"] for d in devices) + (host_entry["total_gib"] if host_entry else 0.0)
        budget = sum(d["budget_gib"] for d in devices) + (host_entry["budget_gib"] if host_entry else 0.0)
        new = dict(ans)
        new.update({
            "boxes": len(cl.boxes), "cluster": cl.id, "link": link.id, "devices": devices,
            "total_gib": round(total, 4), "budget_gib": round(budget, 3), "headroom_gib": round(budget - total, 3),
            "fits": all(d["fits"] for d in devices) and (host_entry is None or host_entry["fits"]),
            "tg_tps": tg_l[j], "pp_tps": pp_l[j] if pp_l[j] else ans["pp_tps"],
            "tg_tps_interval": [round(x * rt, 2) for x in ans["tg_tps_interval"]],
            "pp_tps_interval": [round(x * rp, 2) for x in ans["pp_tps_interval"]],
            "ttft_s": ppt_l[j],
            "ttft_s_interval": [round(x / rp, 4) for x in ans["ttft_s_interval"]],
            "tg_tps_one_box": ans["tg_tps"], "pp_tps_one_box": ans["pp_tps"],
            "network": {
                **{k: v[j] for k, v in net.items()},
                "tg_bytes_per_token": tgb_l[j], "pp_bytes": ppb_l[j],
                "crossings_per_graph": tgn["crossings_per_graph"], "remote_devices": tgn["remote_devices"],
                "output_remote": tgn["output_remote"],
                "link_gbps": link.bandwidth_gbps, "link_efficiency": link.efficiency,
                "link_payload_gbps": round(lc.bytes_per_s * 8e-9, 3), "rtt_us": round(lc.rtt_s * 1e6, 2),
                "rpc_graph_us": round(lc.rpc_graph_s * 1e6, 1), "rpc_tensor_us": round(lc.rpc_tensor_s * 1e6, 3),
                "remote_tensors": tgn["remote_tensors"], "duty_clock": dc.model_dump() if dc is not None else None,
                "calibrated_from": cal.calibrated_from if cal is not None else link.calibrated_from,
            },
        })
        if host_entry:
            new["host"] = host_entry
        if ts is not None:
            new["tensor_split"] = list(ts)
        out.append(new)
    return out
