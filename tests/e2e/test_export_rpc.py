"""The llama-server command line vtt exports for a model split across boxes starts for real: two CPU
ggml-rpc-server processes on 127.0.0.1 stand in for the other boxes, the exported `--rpc ... -ts ... -dev ...`
line runs the pinned llama-server against them on a generated GGUF, up to a 200 on /health and a completion,
then everything is stopped with nothing left behind."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "unit"))
from serve_models import write_chat_gguf  # noqa: E402
from test_export_servers import _free_port, _healthy, stop_group  # noqa: E402
from test_optimize_cluster import relaxed_policy  # noqa: E402
from test_rpc import _server_pids  # noqa: E402

pytestmark = pytest.mark.e2e


def test_exported_split_command_starts_on_local_rpc_servers_and_answers(tmp_path, llama_bench):
    from vtt.harness.locate import find_tool
    from vtt.harness.proc import pid_alive
    from vtt.harness.rpc import RpcServers, find_rpc_server
    from vtt.optimize import optimize
    from vtt.optimize.export import Target, export

    # cpu-loopback-2: both devices are rpc-servers on 127.0.0.1; 8 GiB per box forces the 3B model to split
    pol = relaxed_policy(tmp_path, min_tg=0.01, max_ttft=1e5)
    plan = optimize(editors="roo", models=["llama-3.2-3b"], cluster="cpu-loopback-2", budget_gib=8,
                    policies=[pol]).to_json()
    member = plan["resident_sets"][0]["models"][0]
    assert member["split"] and not member["split"]["main_device"]
    models = tmp_path / "models"
    models.mkdir()
    write_chat_gguf(models / f"{member['model']}-{member['quant']}.gguf")
    with RpcServers(find_rpc_server(llama_bench), 2, threads=1) as rs:
        member["split"]["endpoints"] = [None, *rs.endpoints]      # the boxes' rpc-servers, here on 127.0.0.1
        ex = export(plan, "llama-swap", Target(llama_server=str(find_tool("llama-server")), models_dir=models))
        cmd = yaml.safe_load(ex.text)["models"][member["server"]]["cmd"]
        port = _free_port()
        argv = shlex.split(cmd.replace("${PORT}", str(port)))
        assert argv[argv.index("--rpc") + 1] == ",".join(rs.endpoints)
        assert argv[argv.index("-dev") + 1] == "RPC0,RPC1" and argv[argv.index("-ts") + 1] == "1,1"
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            ok = _healthy(port, proc, 60)
            err = b"" if ok else (proc.stderr.read() if proc.poll() is not None else b"")
            assert ok, f"the split server did not start: {cmd}\n{err.decode(errors='replace')[-1500:]}"
            body = json.dumps({"prompt": "hi", "n_predict": 4}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                assert r.status == 200 and "content" in json.loads(r.read())
        finally:
            stop_group(proc)
        pids = _server_pids(rs.endpoints)
        assert len(pids) == 2
    assert proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
    assert not any(pid_alive(p) for p in pids)
