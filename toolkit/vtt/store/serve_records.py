"""Append and query serve runs: requests, memory samples, memory per context, probes, summaries."""

from __future__ import annotations

from vtt.store.db import Store
from vtt.store.records import _json, _loads, _now, where_clause

REQUEST_COLUMNS = ("request_key", "workload", "request", "status", "error", "t_start_s", "n_ctx",
                   "prompt_tokens", "cached_tokens", "output_tokens", "ttft_s", "decode_tps", "e2e_s",
                   "rss_bytes", "rss_peak_bytes", "gpu_bytes")


def add_request(store: Store, run_id: int, row: dict) -> int:
    names = ["run_id", "finished_at", *[c for c in REQUEST_COLUMNS if c in row], "timings", "extra"]
    values = [run_id, _now(), *[row[c] for c in REQUEST_COLUMNS if c in row],
              _json(row.get("timings")), _json(row.get("extra"))]
    marks = ", ".join("?" for _ in names)
    return int(store.execute(f"INSERT INTO serve_requests ({', '.join(names)}) VALUES ({marks}) "
                             "RETURNING request_id", values).fetchone()[0])


def finished_requests(store: Store, run_id: int) -> set[str]:
    rows = store.execute("SELECT DISTINCT request_key FROM serve_requests WHERE run_id = ? AND status = 'ok'",
                         [run_id]).fetchall()
    return {r[0] for r in rows}


def requests(store: Store, *, run_id: int | None = None, label: str | None = None,
             status: str | None = "ok") -> list[dict]:
    where, args = where_clause([("q.run_id", run_id), ("u.label", label), ("q.status", status)])
    cur = store.execute("SELECT q.*, u.label FROM serve_requests q JOIN runs u USING (run_id)" + where
                        + " ORDER BY q.request_id", args)
    names = [d[0] for d in cur.description]
    out = [dict(zip(names, r)) for r in cur.fetchall()]
    for d in out:
        d["timings"] = _loads(d["timings"])
        d["extra"] = _loads(d["extra"]) or {}
    return out


def count_requests(store: Store, run_id: int) -> dict:
    rows = store.execute("SELECT status, count(*) FROM serve_requests WHERE run_id = ? GROUP BY status",
                         [run_id]).fetchall()
    return {status: int(n) for status, n in rows}


def add_samples(store: Store, run_id: int, samples: list[tuple]) -> None:
    """(t_s, rss_bytes, gpu_bytes, gpu_source) tuples."""
    if samples:
        store.conn.executemany("INSERT INTO serve_samples VALUES (?, ?, ?, ?, ?)",
                               [[run_id, *s] for s in samples])


def samples(store: Store, run_id: int) -> list[dict]:
    cur = store.execute("SELECT t_s, rss_bytes, gpu_bytes, gpu_source FROM serve_samples WHERE run_id = ? "
                        "ORDER BY t_s", [run_id])
    return [dict(zip(("t_s", "rss_bytes", "gpu_bytes", "gpu_source"), r)) for r in cur.fetchall()]


def add_memory(store: Store, run_id: int, n_ctx: int, source: str, parts: dict, detail: dict | None = None) -> None:
    store.execute("INSERT INTO serve_memory VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  [run_id, n_ctx, source, parts.get("weights_bytes"), parts.get("kv_bytes"),
                   parts.get("compute_bytes"), parts.get("output_bytes"), parts.get("total_bytes"), _json(detail)])


def memory(store: Store, run_id: int) -> list[dict]:
    cur = store.execute("SELECT * FROM serve_memory WHERE run_id = ? ORDER BY n_ctx, source", [run_id])
    names = [d[0] for d in cur.description]
    out = [dict(zip(names, r)) for r in cur.fetchall()]
    for d in out:
        d["detail"] = _loads(d["detail"])
    return out


def add_probe(store: Store, run_id: int, n_ctx: int, outcome: str, seconds: float | None, detail: dict | None) -> None:
    store.execute("INSERT INTO serve_probes VALUES (?, ?, ?, ?, ?)", [run_id, n_ctx, outcome, seconds, _json(detail)])


def probes(store: Store, run_id: int) -> list[dict]:
    cur = store.execute("SELECT n_ctx, outcome, seconds, detail FROM serve_probes WHERE run_id = ?", [run_id])
    return [{"n_ctx": r[0], "outcome": r[1], "seconds": r[2], "detail": _loads(r[3])} for r in cur.fetchall()]


def add_summary(store: Store, run_id: int, kind: str, verdict: str | None, summary: dict) -> None:
    store.execute("INSERT INTO serve_summaries VALUES (?, ?, ?, ?, ?)", [run_id, kind, _now(), verdict, _json(summary)])


def summaries(store: Store, *, kind: str | None = None, run_id: int | None = None) -> list[dict]:
    where, args = where_clause([("s.kind", kind), ("s.run_id", run_id)])
    cur = store.execute("SELECT s.run_id, u.label, s.kind, s.created_at, s.verdict, s.summary FROM serve_summaries s "
                        "JOIN runs u USING (run_id)" + where + " ORDER BY s.created_at", args)
    return [{"run_id": r[0], "label": r[1], "kind": r[2], "created_at": r[3], "verdict": r[4],
             "summary": _loads(r[5])} for r in cur.fetchall()]
