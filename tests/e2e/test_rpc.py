"""llama.cpp RPC for real: CPU ggml-rpc-server processes on 127.0.0.1 (and, where the kernel lets us,
one in a network namespace behind a rate-limited veth), llama-bench --rpc through them, and vtt's
per-device split checked against the buffers llama.cpp logs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from gguf_writer import write_llama_gguf

from vtt.harness.proc import pid_alive
from vtt.harness.rpc import RpcServers, device_buffers, find_rpc_server, run_llama_bench_rpc
from vtt.plan import plan_many
from vtt.units import MIB

HALF_CENTI_MIB = 0.005 * MIB + 1  # llama.cpp prints MiB with 2 decimals


@pytest.fixture(scope="module")
def rpc_server(llama_bench) -> Path:
    return find_rpc_server(llama_bench)


@pytest.mark.parametrize("n_layer,split", [(6, (1, 1)), (7, (3, 1)), (5, (1, 2)), (4, (1,))])
def test_per_device_weights_and_kv_equal_llama_cpp(tmp_path, llama_bench, rpc_server, n_layer, split):
    model = write_llama_gguf(tmp_path / f"m{n_layer}.gguf", n_layer=n_layer, n_embd=256, n_vocab=1024)
    # one server: llama.cpp keeps pipeline parallelism off, so no input copies in its compute buffer
    with RpcServers(rpc_server, len(split), threads=1) as rs:
        res = run_llama_bench_rpc(llama_bench, ["-m", str(model), "-p", "64", "-n", "4", "-r", "1"],
                                  rs.endpoints, list(split))
    assert res.returncode == 0, res.stderr_tail
    assert len(res.records) == 2 and len(res.log_tests) == 2
    for rec, lt in zip(res.records, res.log_tests):
        ctx = rec["n_prompt"] + rec["n_gen"] + rec["n_depth"]
        ans = plan_many([{"model": str(model), "cluster": f"cpu-loopback-{len(split)}", "tensor_split": list(split),
                          "context": ctx, "n_prompt": max(rec["n_prompt"], 1), "n_gen": max(rec["n_gen"], 1)}])[0]
        assert "error" not in ans, ans
        got = device_buffers(lt, rs.endpoints)
        for dev, meas in zip(ans["devices"], got):
            assert abs(dev["weights_bytes"] - meas["weights_bytes"]) <= HALF_CENTI_MIB, (dev, meas)
            assert abs(dev["kv_cache_bytes"] - meas["kv_cache_bytes"]) <= HALF_CENTI_MIB, (dev, meas)
            # 10 %, or 16 KiB: a 4-token graph's buffer (~40 KiB) is mostly per-tensor alignment
            assert abs(dev["compute_buffer_bytes"] - meas["compute_buffer_bytes"]) <= max(0.1 * meas["compute_buffer_bytes"], 16384), (dev, meas)
        assert abs(ans["host"]["weights_bytes"] - lt["model"]["CPU_Mapped"]) <= HALF_CENTI_MIB


def test_servers_never_left_behind(rpc_server):
    with RpcServers(rpc_server, 2, threads=1) as rs:
        pids = [c for c in _server_pids(rs.endpoints)]
        assert len(pids) == 2
    assert not any(pid_alive(p) for p in pids)


def _server_pids(endpoints):
    ports = [e.rsplit(":", 1)[1] for e in endpoints]
    out = subprocess.run(["pgrep", "-a", "-f", "ggml-rpc-server"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if any(f"-p {p}" in line for p in ports)]


def test_bench_run_rpc_stores_rows_marked_with_endpoints(tmp_path, llama_bench):
    import duckdb

    model = write_llama_gguf(tmp_path / "m.gguf", n_layer=4, n_embd=256, n_vocab=1024)
    db = tmp_path / "v.duckdb"
    vtt = Path(os.sys.executable).parent / "vtt"
    p = subprocess.run([str(vtt), "bench", "run", "-m", str(model), "-p", "32", "-n", "4", "-r", "1", "--rpc", "2",
                        "-ts", "1,1", "--db", str(db), "--label", "rpc-ci", "--llama-bench", llama_bench, "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-800:]
    summary = json.loads(p.stdout)
    assert summary["cells_ok"] == 2 and len(summary["rpc_endpoints"]) == 2
    assert summary["memory_check"] == {"rows": 2, "weights_exact": 2, "kv_exact": 2}
    con = duckdb.connect(str(db), read_only=True)
    extras = [json.loads(r[0]) for r in con.execute("SELECT extra FROM results WHERE status = 'ok'").fetchall()]
    assert len(extras) == 2
    for e in extras:
        assert e["rpc_endpoints"] == summary["rpc_endpoints"]
        assert [d["endpoint"] for d in e["rpc_devices"]] == summary["rpc_endpoints"]
        assert all(d["weights_bytes"] > 0 and d["kv_cache_bytes"] > 0 for d in e["rpc_devices"])
        assert e["vtt_check"]["weights_exact"] and e["vtt_check"]["kv_exact"]
    assert not _server_pids(summary["rpc_endpoints"])


# ---- a real link with injected bandwidth (and delay, where the kernel has netem) -----------------

def _sh(*cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


@pytest.fixture
def netns():
    """A namespace joined to this one by a veth pair (10.213.x.1 here, .2 inside); removed after."""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tc"):
        pytest.skip("needs root with iproute2 (ip, tc) to create a network namespace")
    tag = uuid.uuid4().hex[:6]
    ns, here, there = f"vttrpc-{tag}", f"vr{tag}a", f"vr{tag}b"
    net = f"10.213.{int(tag[:2], 16)}"
    r = _sh("ip", "netns", "add", ns, check=False)
    if r.returncode:
        pytest.skip(f"the kernel refused a network namespace: {r.stderr.strip()}")
    try:
        _sh("ip", "link", "add", here, "type", "veth", "peer", "name", there)
        _sh("ip", "link", "set", there, "netns", ns)
        _sh("ip", "addr", "add", f"{net}.1/24", "dev", here)
        _sh("ip", "link", "set", here, "up")
        _sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{net}.2/24", "dev", there)
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", there, "up")
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield {"ns": ns, "dev": here, "addr": f"{net}.2"}
    finally:
        _sh("ip", "link", "del", here, check=False)
        _sh("ip", "netns", "del", ns, check=False)


def _bench_through(llama_bench, rpc_server, netns, model, args):
    from vtt.harness.proc import ChildProcess

    port = "50652"
    argv = ["ip", "netns", "exec", netns["ns"], str(rpc_server), "-H", netns["addr"], "-p", port, "-t", "1"]
    with ChildProcess(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        import socket
        import time

        for _ in range(100):
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex((netns["addr"], int(port))) == 0:
                    break
            time.sleep(0.05)
        return run_llama_bench_rpc(llama_bench, ["-m", str(model), *args], [f"{netns['addr']}:{port}"], timeout_s=300)


def test_injected_bandwidth_costs_what_vtt_says(tmp_path, llama_bench, rpc_server, netns):
    """pp512 through one remote device: the extra time a rate-limited link adds equals the bytes vtt
    says cross it (residual stream + positions + KQ mask in, logits out) over the rate."""
    model = write_llama_gguf(tmp_path / "m.gguf", n_layer=2, n_embd=256, n_vocab=1024)
    args = ["-p", "512", "-n", "0", "-r", "5", "-t", "1", "-fa", "1"]
    fast = _bench_through(llama_bench, rpc_server, netns, model, args)
    assert fast.returncode == 0, fast.stderr_tail
    rate_mbit = 20
    r = _sh("tc", "qdisc", "add", "dev", netns["dev"], "root", "tbf", "rate", f"{rate_mbit}mbit",
            "burst", "64kb", "latency", "400ms", check=False)
    if r.returncode:
        pytest.skip(f"the kernel refused a tbf qdisc on a veth: {r.stderr.strip()}")
    slow = _bench_through(llama_bench, rpc_server, netns, model, args)
    assert slow.returncode == 0, slow.stderr_tail
    t_fast = 512 / fast.records[0]["avg_ts"]
    t_slow = 512 / slow.records[0]["avg_ts"]
    ans = plan_many([{"model": str(model), "cluster": "cpu-loopback-2", "tensor_split": [1, 0],
                      "context": 512, "n_prompt": 512, "n_gen": 1}])[0]
    assert "error" not in ans, ans
    # only host -> server traffic is shaped (the qdisc sits on the host's end of the veth)
    net = ans["network"]
    assert net["output_remote"] and net["remote_devices"] == 1
    logits = 1024 * 4
    shaped_bytes = net["pp_bytes"] - logits
    predicted = shaped_bytes / (rate_mbit * 1e6 / 8)
    measured = t_slow - t_fast
    print(f"\nshaped link {rate_mbit} Mbit/s: pp512 extra {measured:.3f} s measured, {predicted:.3f} s predicted ({shaped_bytes} B)")
    assert 0.8 * predicted <= measured <= 1.25 * predicted, (measured, predicted, shaped_bytes)


def test_injected_delay_costs_round_trips(tmp_path, llama_bench, rpc_server, netns):
    r = _sh("tc", "qdisc", "add", "dev", netns["dev"], "root", "netem", "delay", "5ms", check=False)
    if r.returncode:
        pytest.skip(f"the kernel refused netem delay on a veth ({r.stderr.strip()}): no sch_netem in this kernel")
    model = write_llama_gguf(tmp_path / "m.gguf", n_layer=2, n_embd=256, n_vocab=1024)
    slow = _bench_through(llama_bench, rpc_server, netns, model, ["-p", "0", "-n", "16", "-r", "2", "-t", "1"])
    assert slow.returncode == 0, slow.stderr_tail
    ms = 1e3 / slow.records[0]["avg_ts"]
    # one remote device: one synchronous round trip per token, 5 ms each way on the shaped side
    assert 5.0 <= ms <= 5.0 + 10.0, ms
