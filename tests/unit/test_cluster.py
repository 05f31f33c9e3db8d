"""The split rule, tensor placement and network terms of vtt.cost.cluster, and `plan --boxes`."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vtt.cost import cluster as cc
from vtt.plan import plan_many


def test_split_follows_llama_cpp_upper_bound():
    # 6 blocks + output = 7 slots over shares 1:1 -> il/7 < 0.5 goes to device 0 (0..3), the rest to 1
    assert cc.split_slots(6, [1, 1]).tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert cc.split_slots(7, [3, 1]).tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    assert cc.split_slots(4, [1, 0]).tolist() == [0] * 5
    s = cc.split_slots(93, [122.0, 122.0])
    assert s[-1] == 1 and (s[:47] == 0).all() and (s[47:] == 1).all()


def test_tied_embeddings_are_duplicated_onto_the_output_device():
    tp = cc.place_tensors([("token_embd.weight", 100.0), ("output_norm.weight", 1.0), ("blk.0.attn_q.weight", 10.0),
                           ("blk.1.attn_q.weight", 10.0)], 2)
    assert tp.input_bytes == 100 and tp.output_bytes == 101 and tp.layer_bytes.tolist() == [10, 10]
    assert tp.slot_tensors.tolist() == [1, 1, 2]  # per block, then the output layer (norm + duplicated embd)
    tp2 = cc.place_tensors([("token_embd.weight", 100.0), ("output.weight", 50.0)], 1)
    assert tp2.output_bytes == 50 and tp2.slot_tensors.tolist() == [0, 1]


def test_the_graph_cost_counts_the_tensors_of_remote_slots_only():
    devs = [cc.Device("Vulkan0", 0, 1.0, 1.0), cc.Device("RPC0", 1, 1.0, 1.0)]
    slots = np.array([0, 0, 1, 1, 1])  # two blocks local, two remote, the output layer remote
    assert cc.remote_tensors(devs, slots, np.array([9, 9, 9, 9, 2])) == 20
    assert cc.remote_tensors(devs, np.zeros(5, dtype=int), np.array([9, 9, 9, 9, 2])) == 0


def _glm(**kw):
    return plan_many([{"model": "glm-4.7", "quant": "Q4_K_M", "context": 32768, **kw}])[0]


def test_two_boxes_hold_glm_4_7_that_one_box_cannot():
    one, two = _glm(), _glm(boxes=2)
    assert one["fits"] is False and two["fits"] is True
    devs = two["devices"]
    assert [d["device"] for d in devs] == ["RPC0", "Vulkan0"]  # llama.cpp: RPC devices first
    assert devs[1]["output_layer"] and not devs[0]["output_layer"]
    assert sum(d["weights_gib"] for d in devs) + devs[1]["host_gib"] > two["weights_gib"]
    assert abs(sum(d["kv_cache_gib"] for d in devs) - one["kv_cache_gib"]) < 1e-3
    assert two["tg_tps"] < one["tg_tps"] and two["pp_tps"] < one["pp_tps"]


def test_slower_link_costs_more_and_terms_are_named():
    fast, slow = _glm(boxes=2, link="10gbe"), _glm(boxes=2, link="2.5gbe")
    assert slow["tg_tps"] <= fast["tg_tps"] and slow["pp_tps"] < fast["pp_tps"]
    n = fast["network"]
    assert n["tg_ms_per_token"] == pytest.approx(n["tg_transfer_ms"] + n["tg_round_trip_ms"] + n["tg_rpc_graph_ms"]
                                                 + n["tg_device_sync_ms"] + n["tg_duty_clock_ms"], abs=1e-3)
    assert n["tg_duty_clock_ms"] == 0 and n["duty_clock"] is None  # no clock law declared for these boxes
    assert n["tg_device_sync_ms"] > 0  # the second device's own launch and sync
    assert n["crossings_per_graph"] == 2 and n["remote_devices"] == 1 and not n["output_remote"]


def test_tensor_split_moves_layers():
    even, skew = _glm(boxes=2), _glm(boxes=2, tensor_split=[3, 1])
    assert skew["devices"][0]["weights_gib"] > even["devices"][0]["weights_gib"]
    assert skew["devices"][0]["fits"] is False and skew["fits"] is False


def test_bad_cluster_inputs_are_answered_with_errors():
    a, b, c = plan_many([{"model": "glm-4.7", "cluster": "nope"},
                         {"model": "glm-4.7", "boxes": 2, "tensor_split": [1, 2, 3]},
                         {"model": "glm-4.7", "boxes": 2, "link": "carrier-pigeon"}])
    assert a["error"]["code"] == "unknown_name" and "cluster" in a["error"]["message"]
    assert "tensor_split" in b["error"]["message"]
    assert c["error"]["code"] == "unknown_name"


def test_declared_cluster_sets_main_hardware_and_backend():
    a = plan_many([{"model": "minimax-m2-reap-139b", "quant": "Q8_0", "context": 8192, "cluster": "strix-halo-x2-usb4"}])[0]
    assert a["backend"] == "rocm" and a["link"] == "usb4-net" and len(a["devices"]) == 2


def test_network_bytes_per_token():
    # 1 remote device before the local output device: residual in and out, positions, an F16 mask
    from vtt.specs.catalog import default_world
    arch = default_world().models["glm-4.7"]
    devs = [cc.Device("RPC0", 1, 1.0, 1.0), cc.Device("Vulkan0", 0, 1.0, 1.0)]
    slots = cc.split_slots(arch.n_layer, [1, 1])
    link = cc.LinkCost(1e9, 1e-4, 0.0)
    t = cc.network_time_s(arch, devs, slots, link, 1, np.array([256]), 1, 1, True)
    assert t["bytes"][0] == 2 * 5120 * 4 + 4 + 256 * 2
    assert t["round_trip_s"] == pytest.approx(1e-4)


def test_cluster_batch_is_fast():
    qs = [{"model": "glm-4.7", "quant": "Q4_K_M", "context": 4096 * (1 + i % 8), "boxes": 2} for i in range(2000)]
    t0 = time.perf_counter()
    out = plan_many(qs)
    dt = time.perf_counter() - t0
    assert all("devices" in a for a in out)
    assert dt < 6.0, dt


def test_cluster_spec_rejects_a_split_of_the_wrong_length():
    from pydantic import ValidationError

    from vtt.specs.cluster import Cluster

    with pytest.raises(ValidationError, match="tensor_split has 3 entries for 2 devices"):
        Cluster(id="x", name="x", link="10gbe", tensor_split=[1, 1, 1],
                boxes=[{"hardware": "strix-halo-128"}, {"hardware": "strix-halo-128"}])
    c = Cluster(id="x", name="x", link="10gbe", main_device=False,
                boxes=[{"hardware": "strix-halo-128"}, {"hardware": "strix-halo-128"}, {"hardware": "strix-halo-128"}])
    assert c.n_devices == 2


def mixed_cluster_world(tmp_path, monkeypatch):
    """The specs plus a cluster `mixed`: a Strix Halo main box and an H200 rpc-server box on 10 GbE."""
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters" / "mixed.yaml").write_text(
        "id: mixed\nname: mixed\nlink: 10gbe\nboxes:\n"
        "  - {hardware: strix-halo-128, backend: vulkan-radv}\n"
        "  - {name: gpu, hardware: h200-141, backend: vulkan-nvidia, endpoint: 'gpu.lan:50052'}\n")
    monkeypatch.setenv("VTT_SPECS", str(tmp_path))
    from vtt.specs.catalog import load_world

    return load_world()


def test_heterogeneous_cluster_uses_each_box_speed(tmp_path, monkeypatch):
    # a 128 GB Strix Halo beside an H200: layers on the H200 run at its one-box speed
    w = mixed_cluster_world(tmp_path, monkeypatch)
    a, one = plan_many([{"model": "qwen3-32b", "quant": "Q8_0", "context": 8192, "cluster": "mixed"},
                        {"model": "qwen3-32b", "quant": "Q8_0", "context": 8192}], w)
    assert [d["hardware"] for d in a["devices"]] == ["h200-141", "strix-halo-128"]
    assert a["tg_tps"] > one["tg_tps"]  # half the layers on a far faster box


def test_optimizer_entry_point_answers_candidates_on_a_cluster():
    from vtt.plan import plan_on_cluster

    cands = [{"model": "glm-4.7", "quant": "Q4_K_M", "context": 32768},
             {"model": "qwen3-30b-a3b", "quant": "Q8_0", "context": 32768}]
    a, b = plan_on_cluster(cands, cluster="strix-halo-x2-10gbe")
    assert a["fits"] and len(a["devices"]) == 2 and a["tg_tps"] < a["tg_tps_one_box"]
    assert b["fits"] and b["network"]["tg_ms_per_token"] > 0
    with pytest.raises(Exception, match="not both"):
        plan_on_cluster(cands, cluster="strix-halo-x2-10gbe", boxes=2)


def test_duty_clock_factor_follows_duty_below_the_knee():
    f = cc.duty_clock_factor([0.0, 0.1, 0.25, 0.5, 0.9], knee=0.5, idle_factor=0.174)
    assert f.tolist() == pytest.approx([0.174, 0.2, 0.5, 1.0, 1.0])


def test_chain_compute_slows_the_device_that_idles():
    # 3 ms and 1 ms of compute at full clock, 2 ms of network: duties 0.5 and 1/6
    c = np.array([[3e-3, 1e-3]])
    duty, f, extra = cc.chain_compute(c, np.array([2e-3]), knee=0.5, idle_factor=0.1)
    assert duty[0].tolist() == pytest.approx([0.5, 1 / 6])
    assert f[0].tolist() == pytest.approx([1.0, 1 / 3])
    assert extra[0] == pytest.approx(2e-3)  # the small device's 1 ms takes 3 ms
    _, f0, none = cc.chain_compute(c, np.array([2e-3]), None)
    assert none[0] == 0 and (f0 == 1).all()
    _, _, empty = cc.chain_compute(np.array([[3e-3, 0.0]]), np.array([1e-3]), knee=0.5, idle_factor=0.0)
    assert empty[0] == 0  # a device without layers costs nothing, even at a zero idle clock


def _h200(**kw):
    base = {"model": "llama-3.1-8b", "quant": "Q8_0", "context": 4224, "depth": 0, "cluster": "h200-vulkan-x2"}
    return plan_many([{**base, **kw}])[0]


def test_cluster_calibration_overrides_the_link_spec():
    from vtt.specs.catalog import default_world

    cal = default_world().get_cluster("h200-vulkan-x2").calibration
    assert cal.rpc_graph_us != 1900 and cal.bandwidth_gbps != 40 * 0.94  # not loopback's declared values
    a = _h200()
    n = a["network"]
    assert n["rpc_graph_us"] == cal.rpc_graph_us and n["link_payload_gbps"] == pytest.approx(cal.bandwidth_gbps)
    assert n["duty_clock"]["knee"] == pytest.approx(cal.duty_clock.knee) and "run3" in n["calibrated_from"]
    # the per-graph cost: a fixed part per remote device, and a part per weight tensor of their layers
    # (Llama 3.1 8B: 32 blocks x 9 + output norm and output = 290, every one on an rpc-server here)
    assert n["remote_tensors"] == 290 and n["rpc_tensor_us"] == pytest.approx(cal.rpc_tensor_us, abs=1e-3)
    assert n["tg_rpc_graph_ms"] == pytest.approx((2 * cal.rpc_graph_us + 290 * cal.rpc_tensor_us) / 1e3, abs=1e-4)
    # another link: its own declared rate, the remote boxes' measured per-graph cost and clock law
    b = _h200(link="10gbe")
    assert b["network"]["link_payload_gbps"] == pytest.approx(9.4) and b["network"]["rpc_graph_us"] == cal.rpc_graph_us
    assert b["network"]["duty_clock"] is not None
    # N boxes on a named link: no cluster measurements, the link spec's values
    c = plan_many([{"model": "llama-3.1-8b", "quant": "Q8_0", "context": 4224, "boxes": 2, "link": "loopback",
                    "hardware": "h200-141", "backend": "vulkan-nvidia"}])[0]
    assert c["network"]["rpc_graph_us"] == 1900 and c["network"]["tg_duty_clock_ms"] == 0
    assert c["network"]["rpc_tensor_us"] == 0


def test_a_skewed_split_pays_the_idle_device_clock():
    even, skew = _h200(tensor_split=[1, 1]), _h200(tensor_split=[3, 1])
    # same crossings and bytes: the difference is the quarter-share GPU's lowered clock
    assert even["network"]["tg_bytes_per_token"] == skew["network"]["tg_bytes_per_token"]
    assert skew["network"]["tg_duty_clock_ms"] > even["network"]["tg_duty_clock_ms"] > 0
    assert skew["tg_tps"] < even["tg_tps"] and skew["pp_tps"] < even["pp_tps"]
    d = skew["devices"]
    assert d[0]["tg_clock_factor"] == 1.0 and d[1]["tg_clock_factor"] < 0.6 and d[1]["tg_duty"] < d[0]["tg_duty"]
    n = skew["network"]
    assert n["tg_ms_per_token"] == pytest.approx(n["tg_transfer_ms"] + n["tg_round_trip_ms"] + n["tg_rpc_graph_ms"]
                                                 + n["tg_device_sync_ms"] + n["tg_duty_clock_ms"], abs=1e-3)


def test_duty_clock_spec_is_validated():
    from pydantic import ValidationError

    from vtt.specs.cluster import DutyClock, RpcCalibration

    with pytest.raises(ValidationError):
        DutyClock(knee=0.0)
    with pytest.raises(ValidationError):
        RpcCalibration(bandwidth_gbps=-1)
    assert RpcCalibration(duty_clock={"knee": 0.5}).duty_clock.idle_factor == 0.0


def test_h200_cluster_calibration_is_what_its_measurements_give():
    # the committed calibration blocks are validation/rpc/chain.py's fit of runs 3 and 3b (rpc1 rows) and
    # run 3's clocks
    import sys
    from pathlib import Path

    from vtt.specs.catalog import default_world

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "validation" / "rpc"))
    try:
        import chain
    finally:
        sys.path.pop(0)
    rows = chain.load_rows()
    windows, cmax, idle = chain.clock_windows()
    cal = chain.calibrate(rows, windows, cmax, idle)
    for cid in ("h200-vulkan-x2", "h200-vulkan-rpc1"):
        c = default_world().get_cluster(cid).calibration
        assert c.rpc_graph_us == pytest.approx(cal["rpc_graph_s"] * 1e6, abs=0.5)
        assert c.rpc_tensor_us == pytest.approx(cal["rpc_tensor_s"] * 1e6, abs=5e-4) and c.rpc_tensor_us > 0
        assert c.bandwidth_gbps == pytest.approx(cal["bytes_per_s"] * 8e-9, abs=0.05)
        assert c.duty_clock.knee == pytest.approx(cal["knee"], abs=5e-4)
        assert c.duty_clock.idle_factor == pytest.approx(cal["idle_factor"], abs=5e-4)


def test_compute_buffers_follow_llama_cpps_logs_on_two_h200_rpc_servers():
    # validation/rpc/compute_buffers.py re-asks vtt for every device the GPU runs logged. Llama 3.1 8B is
    # dense, so its buffers are the graph's peak plus the scheduler's input copies (4 with two devices,
    # none with one): every such device equals llama.cpp's log within 0.1 %
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "validation" / "rpc"))
    try:
        import compute_buffers
    finally:
        sys.path.remove(str(root / "validation" / "rpc"))
    s = compute_buffers.main(show_rows=True)
    llama = [r for r in s["rows"] if r["model"].startswith("llama-3.1-8b")]
    assert len(llama) >= 30 and {r["config"] for r in llama} == {"x2", "rpc1"}
    assert all(abs(r["err"]) < 1e-3 for r in llama), [r for r in llama if abs(r["err"]) >= 1e-3]
    # Qwen3-30B-A3B's first server runs only MoE layers: its experts' outputs (n_embd x 8 used) do not
    # fit in the freed up/gate rows (n_embd > 2 n_ff_exp) and stack on them; without that stage it was
    # 31-36 % under
    moe = [r for r in s["rows"] if r["model"].startswith("qwen3-30b") and r["device"] == 0]
    assert moe and all(abs(r["err"]) < 0.06 for r in moe), moe
    assert s["within_10pct"] == s["devices"] == 84


def test_layer_stage_is_within_8_percent_of_llama_cpps_allocator_at_real_moe_and_mla_widths():
    """validation/rpc/compute_layer_stage.py loaded 2-layer copies of seven MoE / MLA catalog models at
    their real widths through a CPU rpc-server and recorded llama.cpp's compute buffer; vtt's answer
    for the same file (the catalog's shapes, 512-token vocabulary) must stay within 8 % of each."""
    import json
    from pathlib import Path

    from vtt.cost import memory
    from vtt.specs.catalog import default_world
    from vtt.units import MIB

    root = Path(__file__).resolve().parents[2]
    rec = json.loads((root / "validation" / "rpc" / "results-layer-stage.json").read_text())
    world = default_world()
    assert len(rec["rows"]) >= 14
    for r in rec["rows"]:
        a = world.models[r["model"]]
        ub = r["n_ubatch"]
        # one device, flash attention, context = ubatch: layer stage + the F16 KQ mask (ub x pad(ub, 256))
        mask = ub * memory.pad(ub, 256) * 2
        pred = ub * memory.layer_live_floats(a) * 4 + mask
        assert abs(pred / (r["measured_mib"] * MIB) - 1) < 0.08, (r, pred / MIB)


@pytest.mark.parametrize("cluster, model, ctx, logged_mib", [
    # validation/rpc/results-h200/rpc-stderr.log.gz (two servers, 4 copies of each input leaf) and
    # results-h200-run3/rpc1-stderr.log.gz (one server: pipeline parallelism off), `CPU compute buffer size`
    ("h200-vulkan-x2", "llama-3.1-8b", 512, 42.05), ("h200-vulkan-x2", "llama-3.1-8b", 4608, 58.05),
    ("h200-vulkan-rpc1", "glm-4.7-flash", 4608, 12.51)])
def test_the_main_hosts_compute_buffer_is_what_llama_cpp_logged(cluster, model, ctx, logged_mib):
    from vtt.plan import plan_many

    a = plan_many([{"model": model, "quant": "Q8_0", "cluster": cluster, "context": ctx, "n_prompt": 512, "n_gen": 1}])[0]
    assert a["host"]["compute_buffer_gib"] * 1024 == pytest.approx(logged_mib, abs=0.1)


def test_one_rpc_server_keeps_the_kq_mask_through_its_layers(tmp_path):
    """One device: no pipeline copies, but the mask copy every layer reads is alive through them, so a
    small-vocabulary model's buffer (its layer stage) grows with the context: 2 B per cell per token."""
    import sys
    from pathlib import Path

    from vtt.plan import plan_many

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "validation" / "serve"))
    try:
        import models
    finally:
        sys.path.pop(0)
    path = str(models.write(tmp_path, "chat-1b-f16"))
    short, long = plan_many([{"model": path, "cluster": "cpu-loopback-1", "context": c, "n_prompt": 512, "n_gen": 1}
                             for c in (4096, 65536)])
    grow = (long["devices"][0]["compute_buffer_bytes"] - short["devices"][0]["compute_buffer_bytes"])
    assert grow == pytest.approx(512 * (65536 - 4096) * 2, rel=1e-6)


def test_a_cpu_main_host_is_no_device_of_the_model():
    """llama.cpp skips CPU backends when it lists a model's devices (src/llama.cpp,
    llama_prepare_model_devices): with --rpc every layer goes to the rpc-servers."""
    from vtt.plan import plan_many

    a = plan_many([{"model": "llama-3.1-8b", "quant": "Q4_K_M", "boxes": 2, "backend": "cpu", "context": 4096}])[0]
    assert [d["device"] for d in a["devices"]] == ["RPC0"]
    assert a["devices"][0]["layers"] == [0, 31] and a["devices"][0]["output_layer"] is True
