"""Clusters: boxes joined by a network link, run as one llama.cpp model with RPC (`--rpc host:port,...`).

A cluster names its boxes (hardware x backend; the first is the main host, where llama-server or
llama-bench runs) and the link between them. Links are specs of their own (specs/links/) so the
same 10 GbE can join any boxes; `vtt plan --boxes N` builds N identical boxes on a named link.
"""

from __future__ import annotations

from vtt.specs.base import Field, Source, Spec, model_validator


class Link(Spec):
    """A network between boxes, as the RPC backend's TCP stream sees it."""

    id: str
    name: str
    bandwidth_gbps: float = Field(gt=0, description="line rate, Gbit/s (1e9 bit)")
    efficiency: float = Field(default=0.94, gt=0, le=1,
                              description="TCP goodput / line rate (1460 B payload per 1538 B frame at MTU 1500)")
    rtt_us: float = Field(gt=0, description="round trip of a small TCP message between two boxes, µs")
    rpc_graph_us: float = Field(default=60.0, ge=0, description=(
        "fixed cost per graph on each remote device beyond the link's round trip: the rpc-server "
        "receiving the command, looking up tensors and launching its graph; calibrated from measurements"))
    calibrated_from: str | None = None
    sources: list[Source] = []

    @property
    def bytes_per_s(self) -> float:
        return self.bandwidth_gbps * 1e9 / 8 * self.efficiency


class DutyClock(Spec):
    """How a GPU's clock follows its duty cycle (the share of a token's wall time it is busy): clock /
    clock_max = duty / knee, at least idle_factor, at most 1. A device that holds few layers of a chain
    idles while the others run, its driver lowers its clock, and its own layers run slower by
    clock_max / clock (its kernels are clock-bound at these sizes). Fitted to sampled clocks, never to
    tok/s (validation/rpc/analyze.py, run 3's clocks.csv.gz)."""

    knee: float = Field(gt=0, le=1, description="duty at and above which the GPU holds its full clock")
    idle_factor: float = Field(default=0.0, ge=0, le=1, description="idle clock / clock_max: the lowest factor")
    source: str | None = None


class RpcCalibration(Spec):
    """Measured costs of one cluster's rpc-servers and link, overriding the link spec's declared ones.
    The per-graph cost is the remote build and backend's (rpc-server receiving a graph, running it on its
    own queue, synchronising), so it is measured on the cluster, not declared with the wire."""

    rpc_graph_us: float | None = Field(default=None, ge=0, description="per remote device and graph, µs")
    rpc_tensor_us: float | None = Field(default=None, ge=0, description=(
        "per weight tensor of the remote devices' layers and graph, µs (ggml-rpc sends and rebuilds every "
        "tensor of a graph); default 0"))
    bandwidth_gbps: float | None = Field(default=None, gt=0, description=(
        "payload rate of the RPC backend's tensor transfers (set_tensor / get_tensor through the remote "
        "backend's staging copies), Gbit/s; replaces bandwidth x efficiency of the link"))
    rtt_us: float | None = Field(default=None, gt=0)
    duty_clock: DutyClock | None = None
    calibrated_from: str | None = None


class Box(Spec):
    name: str | None = None
    hardware: str
    backend: str | None = None
    free_gib: float | None = Field(default=None, gt=0, description=(
        "free memory the device reports when the model loads (llama.cpp splits layers in proportion "
        "to it); default: the hardware's budget"))
    endpoint: str | None = Field(default=None, description="host:port of its ggml-rpc-server (not the main box)")


class Cluster(Spec):
    id: str
    name: str
    boxes: list[Box] = Field(min_length=1, description="the first box is the main host")
    link: str = Field(description="a link id (specs/links)")
    main_device: bool = Field(default=True, description=(
        "the main host's own GPU is one of the devices (llama-server -ngl 99 --rpc ...); false when "
        "every device is an rpc-server and the main host keeps only the input layer and host buffers"))
    tensor_split: list[float] | None = Field(default=None, description="llama.cpp --tensor-split, in device order")
    calibration: RpcCalibration | None = Field(default=None, description=(
        "measured rpc-server and link costs of this cluster (override the link spec's declared values)"))
    notes: str | None = None
    sources: list[Source] = []

    @model_validator(mode="after")
    def _split_len(self):
        n = self.n_devices
        if self.tensor_split is not None and len(self.tensor_split) != n:
            raise ValueError(f"tensor_split has {len(self.tensor_split)} entries for {n} devices")
        if self.tensor_split is not None and not any(x > 0 for x in self.tensor_split):
            raise ValueError("tensor_split needs a positive entry")
        return self

    @property
    def n_devices(self) -> int:
        return len(self.boxes) if self.main_device else len(self.boxes) - 1

    def query_defaults(self) -> dict:
        main = self.boxes[0]
        return {"hardware": main.hardware, "backend": main.backend}
