"""One model split across boxes with llama.cpp RPC: which device holds what, and what the link costs.

Pure: no I/O. Everything here follows the pinned llama.cpp (llama-cpp-python 0.3.36 vendor tree):

* Device order (src/llama.cpp, llama_prepare_model_devices): RPC devices first, in `--rpc` order,
  "to minimize network transfers", then the main host's own GPUs.
* Layer split (src/llama-model.cpp, load_tensors): n_layer + 1 slots (every block, then the output
  layer) over the devices; slot il goes to the first device whose cumulative share (float32) exceeds
  il / (n_layer + 1) (std::upper_bound). Shares are `--tensor-split`, else each device's free memory.
  The input layer (token_embd) always stays on the main host's CPU ("very little benefit to
  offloading the input layer"); a model without output.weight gets token_embd duplicated onto the
  output device (TENSOR_DUPLICATED).
* KV cache: each layer's cache lives on its layer's device (src/llama-kv-cache.cpp, `dev = ...`).
* What crosses the link per graph (ggml/src/ggml-backend.cpp, sched splits; ggml-rpc.cpp): each
  remote device receives its inputs (the residual stream where its layers start, positions, the KQ
  mask: F16 with flash attention, else F32, src/llama-graph.cpp build_attn_inp_kq_mask) and hands back the residual stream where they end, or the logits when it holds the
  output layer. Between two remote boxes the main host relays (get_tensor, then set_tensor). Every
  remote device costs one synchronous round trip per graph (the get_tensor that waits for its graph)
  plus the rpc-server's own per-graph work (RPC_CMD_GRAPH_COMPUTE / GRAPH_RECOMPUTE): a fixed part
  and a part per tensor of the graph it is sent (LinkCost.rpc_tensor_s).
Compute itself is a pipeline of one sequence: the devices run one after another, so a split model
runs each device's share of the layers at that device's speed, then pays the network on top.

Duty-cycle clocks (`duty_clock`, measured, not from the source): a GPU in a chain idles while the
other devices and the link work; its driver lowers its clock to match, and its own layers run slower
than the one-box calibration (taken busy, at full clock) says. validation/rpc/REPORT.md: two H200s
over RPC, the one holding a quarter of the layers sampled at 405-765 MHz against 1,980 when busy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vtt.cost import memory
from vtt.cost.memory import pad
from vtt.specs.model_arch import MIXER_FULL, MIXER_RECURRENT, MIXER_SWA, ModelArch

F32 = 4


@dataclass(frozen=True)
class Device:
    """One llama.cpp device of a split, in llama.cpp's order."""

    name: str  # "RPC0", "Vulkan0" ...
    box: int  # index into the cluster's boxes (0 = the main host)
    free_bytes: float  # what it reports as free when the model loads
    budget_bytes: float  # what vtt lets it use
    overhead_bytes: float = 0.0  # driver/runtime memory outside llama.cpp's buffers

    @property
    def remote(self) -> bool:
        return self.box != 0


@dataclass(frozen=True)
class LinkCost:
    bytes_per_s: float
    rtt_s: float
    rpc_graph_s: float
    # per weight tensor of a remote device's layers, per graph: ggml-rpc's serialize_graph sends every
    # node and source tensor of the device's graph (rpc_tensor, ~300 bytes each) and the rpc-server
    # rebuilds them (deserialize_graph -> create_node); the nodes follow the weights a layer holds.
    # Measured on one rpc-server (validation/rpc/REPORT.md: Llama 8 against 32 layers).
    rpc_tensor_s: float = 0.0


def split_slots(n_layer_all: int, shares) -> np.ndarray:
    """Device index of each of the n_layer_all + 1 slots (blocks, then the output layer), as
    llama_model::load_tensors computes it: float32 cumulative shares and std::upper_bound."""
    s = np.asarray(shares, dtype=np.float32)
    cum = np.cumsum(s, dtype=np.float32)
    cum = (cum / cum[-1]).astype(np.float32)
    n = n_layer_all + 1
    x = np.arange(n, dtype=np.float32) / np.float32(n)
    return np.minimum(np.searchsorted(cum, x, side="right"), len(s) - 1)


@dataclass(frozen=True)
class TensorPlacement:
    """Bytes of a model's tensors by where llama.cpp loads them."""

    input_bytes: float  # token_embd and other non-block tensors: the main host's CPU buffer
    layer_bytes: np.ndarray  # per block (n_layer_all)
    output_bytes: float  # output norm + output.weight (or the duplicated token_embd): the output device
    slot_tensors: np.ndarray | None = None  # weight tensors per slot (blocks, then the output layer)


def place_tensors(tensors, n_layer_all: int) -> TensorPlacement:
    """`tensors`: (name, bytes) pairs. Names follow llama.cpp's LLM_TENSOR_NAMES."""
    layers = np.zeros(n_layer_all)
    counts = np.zeros(n_layer_all + 1, dtype=np.int64)
    inp = out = 0.0
    names = set()
    embd = 0.0
    for name, nbytes in tensors:
        names.add(name)
        if name.startswith("blk."):
            try:
                il = int(name.split(".")[1])
            except ValueError:
                inp += nbytes
                continue
            if 0 <= il < n_layer_all:
                layers[il] += nbytes
                counts[il] += 1
                continue
            inp += nbytes
        elif name.startswith("output"):  # output.weight, output_norm.weight/.bias, output.bias
            out += nbytes
            counts[-1] += 1
        else:
            if name == "token_embd.weight":
                embd = nbytes
            inp += nbytes
    if "output.weight" not in names:  # tied embeddings: llama.cpp duplicates token_embd onto the output device
        out += embd
        counts[-1] += 1
    return TensorPlacement(inp, layers, out, counts)


def kv_bytes_per_layer(a: ModelArch, q: dict, bk: np.ndarray, bv: np.ndarray, n_layer_all: int) -> np.ndarray:
    """(queries x n_layer_all) KV cache + recurrent state bytes per layer; layers beyond the ones run
    (NextN/MTP) and layers without a mixer hold none."""
    lay = memory.kv_layout(a, bool(q.get("mla_v_less", False)))
    full, swa = memory.kv_cells(q["context"], q["parallel"], q["n_ubatch"], bool(q.get("kv_unified", False)),
                                bool(q.get("swa_full", False)), a.swa_window)
    mix = np.array(list(a.mixers[:n_layer_all].ljust(n_layer_all, "-")))
    k_full = lay.full_k_elems / max(lay.n_full, 1)
    v_full = lay.full_v_elems / max(lay.n_full, 1)
    k_swa = lay.swa_k_elems / max(lay.n_swa, 1)
    v_swa = lay.swa_v_elems / max(lay.n_swa, 1)
    rec = lay.recurrent_bytes_per_seq / max(lay.n_recurrent, 1) * np.maximum(1, np.asarray(q["parallel"]))
    per_full = (full * (k_full * bk + v_full * bv))[:, None]
    per_swa = (swa * (k_swa * bk + v_swa * bv))[:, None]
    out = (per_full * (mix == MIXER_FULL) + per_swa * (mix == MIXER_SWA)
           + np.asarray(rec, dtype=float).reshape(-1, 1) * (mix == MIXER_RECURRENT))
    return out


# ggml/CMakeLists.txt GGML_SCHED_MAX_COPIES: the input copies a pipeline-parallel scheduler keeps
SCHED_COPIES = 4


def device_compute_bytes(a: ModelArch, q: dict, holds_output: bool, layer_mixers: str = "", n_copies: int = 1
                         ) -> np.ndarray:
    """A device's compute buffer for the worst-case graph (a full ubatch at full context): the
    graph's own peak plus the scheduler's input copies.

    The graph's peak, per token of the ubatch, F32: a device that runs layers holds one layer's live
    tensors (memory.layer_live_floats: the dense FFN's, the routed experts' or MLA's query path,
    whichever is larger), plus the n_head x n_kv score matrix without flash attention; the output device holds the
    logits and the normed residual, n_vocab + n_embd; a device holding both needs the larger.

    The input copies: with more than one device llama.cpp turns on pipeline parallelism
    (src/llama-context.cpp: n_devices > 1, every layer offloaded, layer split), and ggml's scheduler
    then keeps `n_copies` (4) copies of every input a device's split takes from another backend,
    flagged input and output so the allocator never reuses them (ggml/src/ggml-backend.cpp, pass 5,
    "4.cpy"): the residual stream (F32 n_embd), the positions (I32), one KQ mask per attention kind
    its layers use (n_kv cells, F16 with flash attention, else F32: llama-graph.cpp
    build_attn_inp_kq_mask) and, on the output device, the output row ids (I32). With one device
    there is one copy of each, an ordinary tensor: the residual's is freed early, the masks live
    from the first layer to the last, so the layer stage carries them. Measured on two H200
    rpc-servers: Llama 3.1 8B equal to llama.cpp's log within 0.05 MiB on both devices
    (validation/rpc/REPORT.md)."""
    ctx = np.asarray(q["context"], dtype=np.int64)
    ub = np.minimum(np.asarray(q["n_ubatch"], dtype=np.int64), ctx).astype(float)
    n_kv, n_kv_swa, cells = memory.kq_mask_cells(layer_mixers, a.swa_window, ctx, ub)
    fa = np.asarray(q["flash_attn"], dtype=bool)
    full, swa = MIXER_FULL in layer_mixers, MIXER_SWA in layer_mixers
    scores = np.where(fa, 0.0, np.where(full, n_kv, n_kv_swa if swa else 0.0) * a.n_head * F32)
    masks = cells * np.where(fa, 2.0, 4.0)  # bytes per token of the ubatch
    layer = ub * (memory.layer_live_floats(a) * F32 + scores + (masks if n_copies == 1 else 0.0)) \
        if layer_mixers else 0.0 * ub
    out = ub * (a.n_vocab + a.n_embd) * F32 if holds_output else 0.0 * ub
    copies = 0.0 * ub
    if n_copies > 1:
        copies = n_copies * ub * (a.n_embd * F32 + 4 + masks + (4 if holds_output else 0))
    return np.maximum(layer, out) + copies


def host_compute_bytes(a: ModelArch, q: dict, n_copies: int = 1) -> np.ndarray:
    """The main host's CPU compute buffer: the embeddings gathered on the CPU (and the unused embedding
    input) and the input leaves: tokens, positions, output ids (I32) and the KQ masks (F16 with flash
    attention, else F32). Under pipeline parallelism ggml's scheduler keeps `n_copies` of each input
    leaf (ggml-backend.cpp pass 6, "6.cpy"). Against the H200 run's logs (Llama 3.1 8B, -ub 512, two
    servers): 42.02 / 58.02 MiB at n_ctx 512 / 4608, logged 42.05 / 58.05."""
    ctx = np.asarray(q["context"], dtype=np.int64)
    ub = np.minimum(np.asarray(q["n_ubatch"], dtype=np.int64), ctx).astype(float)
    masks = memory.kq_mask_cells(a.mixers, a.swa_window, ctx, ub)[2] \
        * np.where(np.asarray(q["flash_attn"], dtype=bool), 2.0, 4.0)
    return ub * ((n_copies + 1) * a.n_embd * F32 + n_copies * (masks + 12))


@dataclass
class Split:
    """Per-device memory of one split, vectorised over queries."""

    devices: list[Device]
    slots: np.ndarray  # device index per slot (blocks, then output)
    weights: np.ndarray  # (devices,)
    kv: np.ndarray  # (queries, devices)
    compute: np.ndarray  # (queries, devices)
    host_weights: float  # the input layer on the main host's CPU
    host_compute: np.ndarray  # (queries,)
    host_output: np.ndarray  # (queries,) llama.cpp's output (logits) buffer on the host
    layer_ranges: list = field(default_factory=list)


def split_memory(a: ModelArch, tp: TensorPlacement, devices: list[Device], q: dict, bk, bv,
                 tensor_split=None) -> Split:
    n_layer_all = len(tp.layer_bytes)
    shares = tensor_split if tensor_split is not None and any(x > 0 for x in tensor_split) \
        else [d.free_bytes for d in devices]
    slots = split_slots(n_layer_all, shares)
    nd = len(devices)
    w = np.zeros(nd)
    np.add.at(w, slots[:-1], tp.layer_bytes)
    w[slots[-1]] += tp.output_bytes
    kvl = kv_bytes_per_layer(a, q, np.asarray(bk, dtype=float), np.asarray(bv, dtype=float), n_layer_all)
    kv = np.stack([kvl[:, slots[:-1] == d].sum(axis=1) for d in range(nd)], axis=1)
    mixers = a.mixers[:n_layer_all].ljust(n_layer_all, "-")
    n_copies = SCHED_COPIES if nd > 1 else 1
    comp = np.stack([device_compute_bytes(a, q, d == slots[-1], "".join(m for m, s_ in zip(mixers, slots[:-1]) if s_ == d),
                                          n_copies) if (slots == d).any()
                     else np.zeros(len(kvl)) for d in range(nd)], axis=1)
    ranges = []
    for d in range(nd):
        idx = np.flatnonzero(slots[:-1] == d)
        ranges.append([int(idx[0]), int(idx[-1])] if len(idx) else None)
    out = memory.output_buffer_bytes(a, q["parallel"]) * np.ones(len(kvl))
    return Split(devices, slots, w, kv, comp, tp.input_bytes, host_compute_bytes(a, q, n_copies), out, ranges)


def chain_crossings(devices: list[Device], slots: np.ndarray) -> tuple[int, bool, int]:
    """(residual-stream crossings of the link per graph, output device is remote, remote devices
    that run layers). The pipeline is: main host (input layer) -> each device that holds layers, in
    order -> main host (logits). A hop between two boxes crosses the link once if one end is the main
    host, twice if the main host relays between two remote boxes. The last hop carries logits, not
    the residual stream, and is counted apart."""
    used = [d for d in range(len(devices)) if (slots == d).any()]
    boxes = [0] + [devices[d].box for d in used]
    cross = 0
    for a, b in zip(boxes, boxes[1:]):
        if a != b:
            cross += 1 if 0 in (a, b) else 2
    out_remote = devices[int(slots[-1])].remote
    n_remote = sum(1 for d in used if devices[d].remote)
    return cross, out_remote, n_remote


def remote_tensors(devices: list[Device], slots: np.ndarray, slot_tensors) -> int:
    """Weight tensors in the slots that remote devices run (what their graphs are built around)."""
    if slot_tensors is None:
        return 0
    remote = np.array([d.remote for d in devices])[slots]
    return int(np.asarray(slot_tensors)[remote].sum())


def network_time_s(a: ModelArch, devices: list[Device], slots: np.ndarray, link: LinkCost,
                   tokens, n_kv, n_graphs, n_outputs, flash_attn=True, slot_tensors=None) -> dict[str, np.ndarray]:
    """Seconds the link adds over `n_graphs` graphs of `tokens` tokens each (arrays), attending
    `n_kv` cells, with `n_outputs` logits rows fetched in all. Each term named."""
    cross, out_remote, n_remote = chain_crossings(devices, slots)
    n_tensors = remote_tensors(devices, slots, slot_tensors)
    tokens = np.asarray(tokens, dtype=float)
    n_graphs = np.asarray(n_graphs, dtype=float)
    has_attn = MIXER_FULL in a.mixers or MIXER_SWA in a.mixers
    n_masks = (MIXER_FULL in a.mixers) + (MIXER_SWA in a.mixers)
    act = cross * tokens * a.n_embd * F32
    mask_b = np.where(np.asarray(flash_attn, dtype=bool), 2.0, 4.0)
    inputs = n_remote * tokens * (F32 + (n_masks * np.asarray(n_kv, dtype=float) * mask_b if has_attn else 0.0))
    logits = (np.asarray(n_outputs, dtype=float) * a.n_vocab * F32) if out_remote else 0.0
    bytes_total = n_graphs * (act + inputs) + logits
    t_bytes = bytes_total / link.bytes_per_s
    t_rtt = n_graphs * n_remote * link.rtt_s
    t_rpc = n_graphs * (n_remote * link.rpc_graph_s + n_tensors * link.rpc_tensor_s)
    return {"bytes": bytes_total, "transfer_s": t_bytes, "round_trip_s": t_rtt, "rpc_graph_s": t_rpc,
            "total_s": t_bytes + t_rtt + t_rpc, "crossings_per_graph": cross, "remote_devices": n_remote,
            "remote_tensors": n_tensors, "output_remote": out_remote}


def tg_network(a: ModelArch, devices, slots, link: LinkCost, q: dict, slot_tensors=None) -> dict:
    """Per generated token (llama-bench -n G -d D): one graph of one token at the mean position."""
    n_gen = np.maximum(np.asarray(q["n_gen"], dtype=float), 1)
    pos = np.asarray(q["depth"], dtype=float) + (n_gen + 1) / 2
    n_kv = pad(np.ceil(pos).astype(np.int64), 256)
    return network_time_s(a, devices, slots, link, 1, n_kv, 1, 1, q["flash_attn"], slot_tensors)


def pp_network(a: ModelArch, devices, slots, link: LinkCost, q: dict, slot_tensors=None) -> dict:
    """Over a whole prompt (llama-bench -p P -d D): ceil(P / ubatch) graphs, one logits row."""
    n = np.asarray(q["n_prompt"], dtype=float)
    ub = np.maximum(np.asarray(q["n_ubatch"], dtype=float), 1)
    chunks = np.ceil(n / ub)
    mean_tokens = np.where(chunks > 0, n / np.maximum(chunks, 1), 0.0)
    n_kv = pad(np.ceil(np.asarray(q["depth"], dtype=float) + n / 2 + mean_tokens / 2).astype(np.int64), 256)
    return network_time_s(a, devices, slots, link, mean_tokens, n_kv, chunks, np.where(n > 0, 1, 0), q["flash_attn"],
                          slot_tensors)


def duty_clock_factor(duty, knee: float, idle_factor: float = 0.0) -> np.ndarray:
    """clock / clock_max of a GPU busy `duty` of the time: proportional to its duty below `knee`, full
    above it, never below its idle clock. The law is fitted to sampled clocks (vtt.specs.cluster.DutyClock)."""
    return np.clip(np.asarray(duty, dtype=float) / knee, idle_factor, 1.0)


def chain_compute(c, net, knee: float | None = None, idle_factor: float = 0.0):
    """Each device's compute with its duty-cycle clock. `c` (queries x devices): seconds each device
    computes at full clock; `net` (queries,): seconds of the link and sync terms over the same span.
    A device's duty is its share of the wall time as the one-box speeds and the network predict it;
    its compute then takes c / factor (the kernels of one token or ubatch are clock-bound: measured
    on the H200s, REPORT.md). Returns (duty, factor, extra seconds from lowered clocks, per query).
    `knee` None: no clock model (factor 1)."""
    c = np.atleast_2d(np.asarray(c, dtype=float))
    wall = c.sum(axis=1) + np.asarray(net, dtype=float)
    duty = np.where(wall[:, None] > 0, c / np.where(wall > 0, wall, 1.0)[:, None], 0.0)
    if knee is None:
        return duty, np.ones_like(duty), np.zeros(len(c))
    f = duty_clock_factor(duty, knee, idle_factor)
    slowed = np.where(c > 0, c / np.maximum(f, 1e-9), 0.0)
    return duty, f, (slowed - c).sum(axis=1)


def compute_shares(tp: TensorPlacement, slots: np.ndarray, n_devices: int) -> np.ndarray:
    """Share of the per-token work on each device, by the bytes of the layers it runs (the input
    layer is a row gather on the host and is not counted)."""
    w = np.zeros(n_devices)
    np.add.at(w, slots[:-1], tp.layer_bytes)
    w[slots[-1]] += tp.output_bytes
    return w / max(w.sum(), 1.0)


def link_from_measurements(tg_local_tps, tg_rpc_tps, bytes_per_token, n_remote: int, link_bytes_per_s: float,
                           rtt_s: float) -> float:
    """The per-graph rpc-server cost (seconds) that makes the model meet measured tg: the median over
    pairs of (1/tg_rpc - 1/tg_local - bytes/bandwidth - n_remote x rtt) / n_remote. Pairs are the same
    model and test run with all layers local and split over rpc-servers."""
    tl = np.asarray(tg_local_tps, dtype=float)
    tr = np.asarray(tg_rpc_tps, dtype=float)
    extra = 1 / tr - 1 / tl - np.asarray(bytes_per_token, dtype=float) / link_bytes_per_s - n_remote * rtt_s
    return float(max(np.median(extra / max(n_remote, 1)), 0.0))
