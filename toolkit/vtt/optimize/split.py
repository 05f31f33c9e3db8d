"""Candidates split across a cluster's boxes (llama.cpp RPC), for `vtt optimize --cluster ID | --boxes N`.

A model-quant is priced twice on a cluster: on the main box alone (as without a cluster) and split over
every device of the cluster, the way `vtt plan --cluster/--boxes` answers it (vtt.plan_split.with_cluster,
the same per-device memory and the same network terms, fed with the optimizer's own one-box prices).

Memory rule (co-residency): a split server holds its layers, KV cache and compute buffers on every box it
spans, so a resident set must fit each box: the main box's budget (the policy's other work and headroom
kept free, and each server's --cache-ram, which llama-server keeps on the main host) and each other box's
budget (its spec, or --budget-gib, less the headroom: an rpc-server box runs nothing else). A model that
is not split runs on the main box only (llama-swap starts every llama-server there). One server per model,
so a model runs either split or not, never both.

Request prices of a split server: TTFT and generation with the network paid (activations across each split
boundary, per-graph RPC round trips, each remote device's own graph launch); load time adds the remote
devices' weights sent over the link (llama.cpp's RPC backend uploads them when the model loads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from vtt.units import GIB


@dataclass
class ClusterBudget:
    """The cluster the optimizer plans for, and each box's budget."""

    id: str
    name: str
    link: str
    link_bytes_per_s: float
    box_names: list[str]
    hardware: list[str]
    budgets_gib: np.ndarray          # (B,) per box, for models
    endpoints: list[str | None]      # host:port of each box's rpc-server (None: the main box, or undeclared)
    main_device: bool
    tensor_split: list[float] | None
    query: dict                      # the plan keys that select this cluster (cluster, or boxes + link)

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "link": self.link, "main_device": self.main_device,
                "tensor_split": self.tensor_split, "query": dict(self.query),
                "boxes": [{"name": n, "hardware": h, "budget_gib": round(float(b), 3), "endpoint": e}
                          for n, h, b, e in zip(self.box_names, self.hardware, self.budgets_gib, self.endpoints)]}


def cluster_budget(world, hw_main, main_budget_gib: float, *, cluster: str | None, boxes: int | None,
                   link: str | None, budget_gib: float | None, headroom_gib: float) -> ClusterBudget:
    """The cluster (a spec, or N boxes of the main hardware on a link) and its per-box budgets. The main
    box keeps the budget the optimizer computed for it; the other boxes get their spec's addressable
    memory (or --budget-gib, capped by it; or the box's declared free memory) less the headroom."""
    from vtt.errors import BadQuery
    from vtt.plan_split import cluster_for

    if cluster is not None and boxes is not None:
        raise BadQuery("give --cluster or --boxes, not both")
    if boxes is not None and boxes < 2:
        raise BadQuery(f"--boxes must be 2 or more for a cluster (got {boxes})")
    q = SimpleNamespace(boxes=boxes, cluster=cluster, link=link, hardware=hw_main.id, backend=None)
    cl = cluster_for(q, world)
    if cluster is not None and world.get_hardware(cl.boxes[0].hardware).id != hw_main.id:
        raise BadQuery(f"cluster '{cl.id}' has {cl.boxes[0].hardware} as its main box, not {hw_main.id}",
                       hint=f"pass --hardware {cl.boxes[0].hardware}, or leave --hardware out")
    lk = world.get_link(link or cl.link)
    budgets = [main_budget_gib]
    for box in cl.boxes[1:]:
        hw = world.get_hardware(box.hardware)
        cap = min(hw.gpu_addressable_gib, hw.memory_gib, box.free_gib or np.inf)
        budgets.append(min(budget_gib, cap) if budget_gib is not None else cap)
    budgets = np.array([budgets[0]] + [b - headroom_gib for b in budgets[1:]], dtype=float)
    names = [b.name or f"box{i + 1}" for i, b in enumerate(cl.boxes)]
    # the plan keys that select this cluster (and its link, when given: as `vtt plan --cluster X --link Y`)
    sel = ({"cluster": cl.id} | ({"link": lk.id} if link else {})) if cluster is not None else {"boxes": boxes, "link": lk.id}
    return ClusterBudget(cl.id, cl.name, lk.id, lk.bytes_per_s, names, [b.hardware for b in cl.boxes], budgets,
                         [None] + [b.endpoint for b in cl.boxes[1:]], cl.main_device,
                         list(cl.tensor_split) if cl.tensor_split else None, sel)


@dataclass
class SplitPriced:
    """One model-quant split over the cluster: per ladder context and per mode."""

    box_gib: np.ndarray              # (L, B) memory per box at each ladder context (no --cache-ram)
    pp_tps: np.ndarray               # (D,) at the mode's cached depth
    tg_tps: np.ndarray               # (D,) after the prompt
    ttft_s: np.ndarray
    gen_s: np.ndarray
    net_ms: np.ndarray               # (D,) network ms per generated token
    remote_weights_gib: float        # weights the link carries when the model loads
    devices: list[list[dict]] = field(default_factory=list)   # (L,) per device: device, box, layers, total_gib


class SplitPricer:
    """Prices candidates split over one cluster, from the optimizer's one-box prices (vtt.optimize.price)."""

    def __init__(self, world, cb: ClusterBudget, pricer):
        self.world, self.cb, self.pricer = world, cb, pricer
        self._other: dict = {}

    def _one_box(self, rm, kv: str):
        """cal_speed for vtt.plan_split: the one-box speed on another kind of box (heterogeneous clusters)."""
        def speed(q, hardware: str, backend: str):
            from vtt.optimize.price import Pricer

            key = (hardware, backend)
            if key not in self._other:
                self._other[key] = Pricer(self.world, hardware, backend)
            pp, tg = self._other[key].speed(rm, [q.depth], [q.n_prompt], [q.n_gen], kv)
            return float(pp[0]), float(tg[0])
        return speed

    def price(self, rm, model_id: str, ladder: list[int], cached, prompt, output, pp1, tg1, kv: str) -> SplitPriced:
        """`pp1` (D,) at depth C for P tokens and `tg1` (D,) at depth C + P: the one-box prices of the
        modes' requests (C, P, O)."""
        from vtt.plan_split import with_cluster

        cb, pr = self.cb, self.pricer
        D = len(cached)
        rows = [(c, 0, 1, 1) for c in ladder]
        rows += [(int(c + p + 1), int(c), int(p), 1) for c, p in zip(cached, prompt)]
        rows += [(int(c + p + o + 1), int(c + p), 1, max(int(o), 1)) for c, p, o in zip(cached, prompt, output)]
        qs = [SimpleNamespace(model=model_id, boxes=cb.query.get("boxes"), cluster=cb.query.get("cluster"),
                              link=cb.query.get("link"), hardware=pr.hw_spec.id, backend=pr.be.id, tensor_split=None,
                              context=ctx, depth=d, n_prompt=n_p, n_gen=n_g, parallel=1, n_ubatch=512, flash_attn=True,
                              mla_v_less=True, kv_unified=False, swa_full=False, type_k=kv, type_v=kv)
              for ctx, d, n_p, n_g in rows]
        L = len(ladder)
        pp_in = np.r_[np.ones(L), pp1, np.ones(D)]
        tg_in = np.r_[np.ones(L), np.ones(D), tg1]
        answers = [{"hardware": pr.hw_spec.id, "backend": pr.be.id, "pp_tps": float(a), "tg_tps": float(b),
                    "tg_tps_interval": [float(b), float(b)], "pp_tps_interval": [float(a), float(a)],
                    "ttft_s_interval": [0.0, 0.0]} for a, b in zip(pp_in, tg_in)]
        out = with_cluster(answers, rm, qs, self.world, self._one_box(rm, kv))
        if "error" in out[0]:
            from vtt.errors import VttError

            e = out[0]["error"]
            raise VttError(e["message"], hint=e.get("hint"), code=e["code"])
        index = {n: i for i, n in enumerate(cb.box_names)}
        box_gib = np.zeros((L, len(cb.box_names)))
        devices = []
        for i in range(L):
            devs = out[i]["devices"]
            for dv in devs:
                box_gib[i, index[dv["box"]]] += dv["total_gib"]
            devices.append([{"device": dv["device"], "box": dv["box"], "layers": dv["layers"],
                             "output_layer": dv["output_layer"], "total_gib": dv["total_gib"]} for dv in devs])
        remote_w = sum(dv["weights_gib"] for dv in out[0]["devices"] if dv["remote"])
        pre, gen = out[L:L + D], out[L + D:]
        pp = np.array([a["pp_tps"] for a in pre], dtype=float)
        ttft = np.array([a["ttft_s"] for a in pre], dtype=float)
        tg = np.array([a["tg_tps"] for a in gen], dtype=float)
        net = np.array([a["network"]["tg_ms_per_token"] for a in gen], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            gen_s = np.where(tg > 0, np.asarray(output, dtype=float) / np.where(tg > 0, tg, 1), np.inf)
        ttft = np.where(pp > 0, ttft, np.inf)
        return SplitPriced(box_gib, pp, tg, ttft, gen_s, net, remote_w, devices)


def load_s(size_gib: float, remote_weights_gib: float, disk_read_gbs: float, link_bytes_per_s: float) -> float:
    """Seconds to load a split model: the file read on the main box, then the remote devices' weights
    sent over the link (the RPC backend's set_tensor calls at load)."""
    return size_gib * GIB / (disk_read_gbs * 1e9) + remote_weights_gib * GIB / link_bytes_per_s
