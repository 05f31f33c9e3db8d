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
    if cl.main_device:
        be = world.get_backend(cl.boxes[0].backend or main_backend.id)
        name = _API_DEVICE.get(be.api, be.api.upper()) + "0" if be.api != "cpu" else "CPU"
        out.append(_device(world, cl.boxes[0], 0, name))
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
    from vtt import ggml_types
    from vtt.cost.tensors import tensor_shapes
    from vtt.cost.weights import tensor_type

    ft = world.quant(rm.quant_label)
    rows = [(t.name, ggml_types.tensor_bytes(tensor_type(ft, t, rm.arch), t.ne) * (ft.bpw_scale if len(t.ne) >= 2 else 1.0))
            for t in tensor_shapes(rm.arch)]
    k = rm.weights.total_bytes / max(sum(b for _, b in rows), 1.0)
    return [(n, b * k) for n, b in rows]


def with_cluster(answers: list[dict], rm, qs: list, world, cal_speed=None) -> list[dict]:
    """Add `devices`, per-device fits and network-adjusted speeds to single-box answers (one group:
    the same model, hardware and backend). `cal_speed(query, hardware, backend)` gives the one-box
    (pp_tps, tg_tps) on another box's hardware (heterogeneous clusters)."""
    out = []
    tensors = None
    for ans, q in zip(answers, qs):
        if not (q.boxes or q.cluster) or "error" in ans:
            out.append(ans)
            continue
        try:
            if tensors is None:
                tensors = cc.place_tensors(model_tensors(rm, q.model, world), rm.arch.n_layer)
            out.append(_one(ans, rm, q, world, tensors, cal_speed or _one_box_speed))
        except VttError as e:
            out.append({k: ans.get(k) for k in ("model", "quant", "context")} | {"error": e.to_dict()})
    return out


_FIXED: dict = {}


def _fixed_costs(world, hardware: str, backend: str) -> tuple[float, float]:
    """(seconds per token, seconds per ubatch) a device's own graph launch and sync costs, from the
    box's calibration (t_token_us, t_ubatch_ms)."""
    key = (id(world), hardware, backend)
    if key not in _FIXED:
        from vtt.calibrate.calibration import find_calibration

        be = world.get_backend(backend)
        p = find_calibration(world.roots, hardware, backend, None, be.defaults).all_params()
        _FIXED[key] = (p["t_token_us"] * 1e-6, p["t_ubatch_ms"] * 1e-3)
    return _FIXED[key]


def _one_box_speed(q, hardware: str, backend: str) -> tuple[float, float]:
    """(pp_tps, tg_tps) of the whole model on one box of another kind (heterogeneous clusters)."""
    from vtt.plan import plan_many

    raw = q.model_dump(exclude={"boxes", "cluster", "link", "tensor_split", "calibration"})
    a = plan_many([{**raw, "hardware": hardware, "backend": backend}])[0]
    if "error" in a:
        raise BadQuery(f"no one-box speed on {hardware}/{backend}: {a['error']['message']}")
    return a["pp_tps"], a["tg_tps"]


_LAYOUTS: dict = {}


def _layout(world, boxes, cluster, link, hardware, backend, main_backend):
    """(cluster, devices) for one query shape; cached so a batch pays for it once."""
    from types import SimpleNamespace

    key = (id(world), boxes, cluster, link, hardware, backend, main_backend)
    if key not in _LAYOUTS:
        cl = cluster_for(SimpleNamespace(boxes=boxes, cluster=cluster, link=link, hardware=hardware, backend=backend), world)
        _LAYOUTS[key] = (cl, devices_of(cl, world, world.get_backend(main_backend)))
    return _LAYOUTS[key]


def _one(ans: dict, rm, q, world, tp: cc.TensorPlacement, cal_speed) -> dict:
    cl, devs = _layout(world, q.boxes, q.cluster, q.link, q.hardware, q.backend, ans["backend"])
    if not devs:
        raise BadQuery(f"cluster '{cl.id}' has no devices")
    ts = getattr(q, "tensor_split", None) or cl.tensor_split
    if ts is not None and len(ts) != len(devs):
        raise BadQuery(f"tensor_split has {len(ts)} entries for {len(devs)} devices")
    link = world.get_link(getattr(q, "link", None) or cl.link)
    lc = cc.LinkCost(link.bytes_per_s, link.rtt_us * 1e-6, link.rpc_graph_us * 1e-6)
    qd = {"context": np.array([q.context]), "parallel": np.array([q.parallel]), "n_ubatch": np.array([q.n_ubatch]),
          "flash_attn": np.array([q.flash_attn]), "depth": np.array([q.depth]), "n_prompt": np.array([q.n_prompt]),
          "n_gen": np.array([q.n_gen]), "mla_v_less": q.mla_v_less, "kv_unified": q.kv_unified, "swa_full": q.swa_full}
    sp = cc.split_memory(rm.arch, tp, devs, qd, [KV_TYPE_BYTES[q.type_k]], [KV_TYPE_BYTES[q.type_v]], ts)
    main_box = cl.boxes[0]
    main_hw = world.get_hardware(main_box.hardware)
    host = sp.host_weights + (sp.host_compute[0] if main_hw.unified_memory else 0.0) + sp.host_output[0]
    devices = []
    host_placed = False
    for d, dev in enumerate(devs):
        # the main host's CPU buffers (input layer, host compute, logits) share the main box's memory
        on_host = dev.box == 0 and not host_placed
        host_placed = host_placed or dev.box == 0
        extra = host if on_host else 0.0
        tot = sp.weights[d] + sp.kv[0, d] + sp.compute[0, d] + dev.overhead_bytes + extra
        devices.append({
            "device": dev.name, "box": cl.boxes[dev.box].name or f"box{dev.box + 1}",
            "hardware": cl.boxes[dev.box].hardware, "remote": dev.remote,
            "layers": sp.layer_ranges[d], "output_layer": bool(int(sp.slots[-1]) == d),
            "weights_gib": round(float(sp.weights[d]) / GIB, 6), "kv_cache_gib": round(float(sp.kv[0, d]) / GIB, 6),
            "compute_buffer_gib": round(float(sp.compute[0, d]) / GIB, 6),
            "host_gib": round(float(extra) / GIB, 6), "overhead_gib": round(dev.overhead_bytes / GIB, 4),
            "total_gib": round(float(tot) / GIB, 4), "budget_gib": round(dev.budget_bytes / GIB, 3),
            "fits": bool(tot <= dev.budget_bytes),
            "weights_bytes": int(round(sp.weights[d])), "kv_cache_bytes": int(round(float(sp.kv[0, d]))),
            "compute_buffer_bytes": int(round(float(sp.compute[0, d]))),
        })
    host_entry = None
    if not host_placed:  # every device is an rpc-server: the main host keeps the input layer alone
        host_entry = {"box": main_box.name or "box1", "weights_gib": round(sp.host_weights / GIB, 6),
                      "weights_bytes": int(round(sp.host_weights)),
                      "compute_buffer_gib": round(float(sp.host_compute[0]) / GIB, 6),
                      "total_gib": round(host / GIB, 4), "budget_gib": round(main_hw.budget_gib, 3),
                      "fits": bool(host <= main_hw.budget_gib * GIB)}
    # speed: each device runs its share of the layers at its box's one-box speed, then the network
    shares = cc.compute_shares(tp, sp.slots, len(devs))
    t_tok = t_pp = 0.0
    one = {}
    for d, dev in enumerate(devs):
        box = cl.boxes[dev.box]
        key = (box.hardware, box.backend or world.get_hardware(box.hardware).default_backend)
        if key not in one:
            if key == (ans["hardware"], ans["backend"]) or cal_speed is None:
                one[key] = (ans["pp_tps"], ans["tg_tps"])
            else:
                one[key] = cal_speed(q, *key)
        pp1, tg1 = one[key]
        t_tok += shares[d] / tg1 if tg1 else 0.0
        t_pp += shares[d] * (q.n_prompt / pp1) if pp1 else 0.0
    # every device beyond the first launches and waits for a graph of its own: the fixed per-token
    # (t_token_us) and per-ubatch (t_ubatch_ms) costs of its box's calibration, once more each
    used = [d for d in range(len(devs)) if (sp.slots == d).any()]
    sync_tok = sync_pp = 0.0
    chunks = -(-q.n_prompt // q.n_ubatch)
    for d in used[1:]:
        box = cl.boxes[devs[d].box]
        prm = _fixed_costs(world, box.hardware, box.backend or world.get_hardware(box.hardware).default_backend)
        sync_tok += prm[0]
        sync_pp += chunks * prm[1]
    tgn = cc.tg_network(rm.arch, devs, sp.slots, lc, qd)
    ppn = cc.pp_network(rm.arch, devs, sp.slots, lc, qd)
    net_tok = float(np.ravel(tgn["total_s"])[0]) + sync_tok
    net_pp = float(np.ravel(ppn["total_s"])[0]) + sync_pp
    tg = 1.0 / (t_tok + net_tok)
    pp_time = t_pp + net_pp
    pp = q.n_prompt / pp_time if pp_time > 0 else None
    new = dict(ans)
    rt, rp = tg / ans["tg_tps"], (pp / ans["pp_tps"] if pp and ans["pp_tps"] else 1.0)
    total = sum(d["total_gib"] for d in devices) + (host_entry["total_gib"] if host_entry else 0.0)
    budget = sum(d["budget_gib"] for d in devices) + (host_entry["budget_gib"] if host_entry else 0.0)
    new.update({
        "boxes": len(cl.boxes), "cluster": cl.id, "link": link.id, "devices": devices,
        "total_gib": round(total, 4), "budget_gib": round(budget, 3), "headroom_gib": round(budget - total, 3),
        "fits": all(d["fits"] for d in devices) and (host_entry is None or host_entry["fits"]),
        "tg_tps": round(tg, 2), "pp_tps": round(pp, 2) if pp else ans["pp_tps"],
        "tg_tps_interval": [round(x * rt, 2) for x in ans["tg_tps_interval"]],
        "pp_tps_interval": [round(x * rp, 2) for x in ans["pp_tps_interval"]],
        "ttft_s": round(pp_time, 4),
        "ttft_s_interval": [round(x / rp, 4) for x in ans["ttft_s_interval"]],
        "tg_tps_one_box": ans["tg_tps"], "pp_tps_one_box": ans["pp_tps"],
        "network": {
            "tg_ms_per_token": round(net_tok * 1e3, 4),
            "tg_device_sync_ms": round(sync_tok * 1e3, 4),
            "tg_transfer_ms": round(float(np.ravel(tgn["transfer_s"])[0]) * 1e3, 4),
            "tg_round_trip_ms": round(float(np.ravel(tgn["round_trip_s"])[0]) * 1e3, 4),
            "tg_rpc_graph_ms": round(float(np.ravel(tgn["rpc_graph_s"])[0]) * 1e3, 4),
            "tg_bytes_per_token": int(np.ravel(tgn["bytes"])[0]),
            "pp_s": round(net_pp, 5),
            "pp_device_sync_s": round(sync_pp, 5),
            "pp_transfer_s": round(float(np.ravel(ppn["transfer_s"])[0]), 5),
            "pp_bytes": int(np.ravel(ppn["bytes"])[0]),
            "crossings_per_graph": tgn["crossings_per_graph"], "remote_devices": tgn["remote_devices"],
            "output_remote": tgn["output_remote"],
            "link_gbps": link.bandwidth_gbps, "link_efficiency": link.efficiency, "rtt_us": link.rtt_us,
            "rpc_graph_us": link.rpc_graph_us,
        },
    })
    if host_entry:
        new["host"] = host_entry
    if ts is not None:
        new["tensor_split"] = list(ts)
    return new
