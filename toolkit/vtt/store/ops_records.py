"""Operator results (`vtt bench ops`) in the store: insert one as it arrives, read them back with
their run's hardware, backend, build and machine."""

from __future__ import annotations

import json

from vtt.store.db import Store

_COLS = ("case_key", "op", "shape", "backend_name", "op_params", "supported", "time_us", "n_runs", "flops_per_op",
         "flops_s", "tool_flops_s", "bandwidth_gb_s", "memory_kb", "build_commit", "device_description", "test_time")


def add_op_result(store: Store, run_id: int, rec: dict) -> int:
    vals = [json.dumps(rec.get(c)) if c == "shape" else rec.get(c) for c in _COLS]
    row = store.execute(f"INSERT INTO op_results (run_id, {', '.join(_COLS)}) VALUES (?, {', '.join('?' * len(_COLS))}) "
                        "RETURNING op_result_id", [run_id, *vals]).fetchone()
    return int(row[0])


def op_results(store: Store, *, run_id: int | None = None, label: str | None = None,
               hardware: str | None = None, backend: str | None = None) -> list[dict]:
    """Stored operator rows (supported ones with a time), each with its run's context."""
    where, args = ["o.supported AND o.time_us > 0"], []
    for col, v in (("r.run_id", run_id), ("r.label", label), ("r.hardware", hardware), ("r.backend", backend)):
        if v is not None:
            where.append(f"{col} = ?")
            args.append(v)
    rows = store.execute(
        f"""SELECT o.*, r.label, r.hardware, r.backend, r.machine_id, r.build
            FROM op_results o JOIN runs r USING (run_id) WHERE {' AND '.join(where)} ORDER BY o.op_result_id""",
        args)
    names = [d[0] for d in rows.description]
    out = []
    for t in rows.fetchall():
        d = dict(zip(names, t))
        for k in ("shape", "build"):
            if isinstance(d.get(k), str):
                d[k] = json.loads(d[k])
        out.append(d)
    return out
