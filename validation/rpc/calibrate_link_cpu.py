"""The rpc-server's per-graph cost on CPU loopback: tg through one rpc-server vs two (the second adds
one remote device: one more round trip, one more relayed residual stream, one more rpc-server graph).
Alternating repeats, median of each; the machine is shared, so the spread is printed too.

    python validation/rpc/calibrate_link_cpu.py > validation/rpc/results/cpu-link.json
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "e2e"))
from gguf_writer import write_llama_gguf  # noqa: E402

from vtt.harness.locate import find_llama_bench  # noqa: E402
from vtt.harness.rpc import RpcServers, find_rpc_server, run_llama_bench_rpc  # noqa: E402


def rtt_us(n: int = 2000) -> float:
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def echo():
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while d := c.recv(65536):
            c.sendall(d)

    threading.Thread(target=echo, daemon=True).start()
    s = socket.create_connection(srv.getsockname())
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = time.perf_counter()
    for _ in range(n):
        s.sendall(b"x" * 64)
        s.recv(64)
    return 1e6 * (time.perf_counter() - t) / n


def main(reps: int = 6) -> None:
    lb = find_llama_bench()
    m = write_llama_gguf(Path("/tmp/vtt-link-cal.gguf"), n_layer=8, n_embd=256, n_vocab=1024)
    ms = {"one": [], "two": []}
    with RpcServers(find_rpc_server(lb), 2, threads=1) as rs:
        for _ in range(reps):
            for name, eps, ts in (("one", rs.endpoints[:1], None), ("two", rs.endpoints, [1, 1])):
                r = run_llama_bench_rpc(lb, ["-m", str(m), "-p", "0", "-n", "64", "-r", "10", "-fa", "1", "-t", "1"], eps, ts)
                ms[name].append(1e3 / r.records[0]["avg_ts"])
    extra = statistics.median(ms["two"]) - statistics.median(ms["one"])
    rtt = rtt_us()
    print(json.dumps({"ms_per_token": ms, "extra_ms_second_remote_device": round(extra, 4),
                      "python_loopback_rtt_us": round(rtt, 1),
                      "rpc_graph_us": round(max(extra * 1e3 - rtt, 0.0), 1)}, indent=1))


if __name__ == "__main__":
    main()
