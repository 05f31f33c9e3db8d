"""Append and query: runs, machines, results (+ samples, memory peaks), calibrations, predictions.

Plain functions taking an open Store, so calibration fitting and reports can share them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from datetime import datetime, timezone
from typing import Any, Iterable

from vtt.errors import BadQuery, EnvironmentProblem, VttError
from vtt.store.db import Store
from vtt.store.owners import owner_alive, this_process
from vtt.store.schema import RESULT_FIELDS

_RUN_COLUMNS = ("run_id", "label", "source", "status", "started_at", "finished_at", "machine_id",
                "hardware", "backend", "llama_bench_path", "build", "vtt_version", "params")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _finite(value: Any) -> Any:
    """JSON columns refuse NaN/Infinity: non-finite floats become their text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), sort_keys=True, default=str)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def content_hash(obj: Any) -> str:
    """A stable hash of a JSON-able value (dict key order does not matter)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]


@contextlib.contextmanager
def transaction(store: Store):
    """BEGIN ... COMMIT, or ROLLBACK on any exception: a result and its samples land together."""
    store.execute("BEGIN TRANSACTION")
    try:
        yield store
    except BaseException:
        with contextlib.suppress(Exception):
            store.execute("ROLLBACK")
        raise
    store.execute("COMMIT")


# --- run owners: which process is measuring a run (vtt.store.owners) ---------------------


def claim_run(store: Store, run_id: int) -> None:
    """Take the lease on a run for this process (resume): refused while a live process holds it.

    The DuckDB file admits one writer at a time, so the check and the update cannot interleave
    with another vtt's."""
    with transaction(store):
        row = store.execute("SELECT status, owner_pid, owner_start, owner_host, label FROM runs WHERE run_id = ?",
                            [run_id]).fetchone()
        if row is None:
            raise VttError(f"no run {run_id}", code="unknown_run")
        status, pid, start, host, label = row
        me = this_process()
        if status == "running" and pid is not None and (pid, host) != (me[0], me[2]) and owner_alive(pid, start, host):
            raise EnvironmentProblem(f"run {run_id} ('{label}') is being measured now by pid {pid} on {host}",
                                     code="run_busy", hint="wait for it to finish; a second --resume would "
                                     "measure the same cells twice")
        store.execute("UPDATE runs SET status = 'running', finished_at = NULL, owner_pid = ?, owner_start = ?, "
                      "owner_host = ? WHERE run_id = ?", [me[0], me[1], me[2], run_id])


# --- machines and runs -------------------------------------------------------------------

def open_labelled_run(store: Store, label: str, *, resume: bool, source: str | None = None,
                      resume_hint: str = "continue it with --resume, or pick another --label",
                      **add_run_fields) -> tuple[int, bool]:
    """(run_id, reopened): the run under `label` for a harness (bench, serve, rpc) to write into.
    An existing label is refused unless `resume`; a resumed run must be of `source` (when given) and
    takes the lease (claim_run), so two resumers cannot measure the same cells; otherwise a new run."""
    previous = find_runs(store, label=label)
    if previous and not resume:
        raise BadQuery(f"label '{label}' already exists in {store.path}", hint=resume_hint)
    if previous:
        run = previous[-1]
        if source is not None and run["source"] != source:
            raise BadQuery(f"label '{label}' is a {run['source']} run, not a {source} run")
        claim_run(store, run["run_id"])
        return run["run_id"], True
    return add_run(store, label, **({"source": source} if source else {}), **add_run_fields), False


def upsert_machine(store: Store, fingerprint: dict) -> str:
    machine_id = content_hash(fingerprint)[:16]
    hit = store.execute("SELECT 1 FROM machines WHERE machine_id = ?", [machine_id]).fetchone()
    if not hit:
        store.execute("INSERT INTO machines VALUES (?, ?, ?)", [machine_id, _now(), _json(fingerprint)])
    return machine_id


def get_machine(store: Store, machine_id: str) -> dict | None:
    row = store.execute("SELECT fingerprint FROM machines WHERE machine_id = ?", [machine_id]).fetchone()
    return _loads(row[0]) if row else None


def add_run(store: Store, label: str, *, source: str = "bench", status: str = "running",
            machine_id: str | None = None, hardware: str | None = None, backend: str | None = None,
            llama_bench_path: str | None = None, build: dict | None = None,
            vtt_version: str | None = None, params: dict | None = None) -> int:
    if vtt_version is None:
        from vtt import __version__ as vtt_version
    pid, start, host = this_process()
    row = store.execute(
        """INSERT INTO runs (label, source, status, started_at, machine_id, hardware, backend,
                             llama_bench_path, build, vtt_version, params, owner_pid, owner_start, owner_host)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING run_id""",
        [label, source, status, _now(), machine_id, hardware, backend, llama_bench_path,
         _json(build), vtt_version, _json(params), pid, start, host],
    ).fetchone()
    return int(row[0])


def set_run_status(store: Store, run_id: int, status: str) -> None:
    finished = None if status == "running" else _now()
    store.execute("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?", [status, finished, run_id])


def set_run_params(store: Store, run_id: int, params: dict) -> None:
    store.execute("UPDATE runs SET params = ? WHERE run_id = ?", [_json(params), run_id])


_OWNER = ", owner_pid, owner_start, owner_host"


def _run_dict(row) -> dict:
    d = dict(zip(_RUN_COLUMNS, row))
    for k in ("build", "params"):
        d[k] = _loads(d[k])
    if len(row) > len(_RUN_COLUMNS):
        pid, start, host = row[len(_RUN_COLUMNS):]
        # A read-only open cannot write the fix; show it as it is.
        if d["status"] == "running" and pid is not None and not owner_alive(pid, start, host):
            d["status"] = "interrupted"
    return d


def find_runs(store: Store, label: str | None = None) -> list[dict]:
    sql = f"SELECT {', '.join(_RUN_COLUMNS)}{_OWNER} FROM runs"
    args: list = []
    if label is not None:
        sql += " WHERE label = ?"
        args.append(label)
    return [_run_dict(r) for r in store.execute(sql + " ORDER BY run_id", args).fetchall()]


def get_run(store: Store, run_id: int) -> dict | None:
    row = store.execute(f"SELECT {', '.join(_RUN_COLUMNS)}{_OWNER} FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return _run_dict(row) if row else None


def resolve_run(store: Store, ref: str) -> dict:
    """`ref` is a label (latest run with it) or a run id ('7' or 'run:7')."""
    text = str(ref)
    id_text = text[4:] if text.startswith("run:") else text
    by_label = find_runs(store, label=text)
    if by_label:
        return by_label[-1]
    if id_text.isdigit():
        run = get_run(store, int(id_text))
        if run:
            return run
    labels = sorted({r["label"] for r in find_runs(store)})
    shown = ", ".join(labels[:10]) or "(none)"
    raise VttError(f"unknown run or label '{text}'", code="unknown_run",
                   hint=f"labels in this database: {shown}; list runs with: vtt runs")


def count_results(store: Store, run_id: int) -> dict:
    rows = store.execute("SELECT status, count(*) FROM results WHERE run_id = ? GROUP BY status",
                         [run_id]).fetchall()
    return {status: int(n) for status, n in rows}


# --- results -----------------------------------------------------------------------------

def _coerce(value: Any, sql_type: str) -> Any:
    """Convert to the column type; raise ValueError when it does not fit."""
    if value is None or value == "":
        return None
    if sql_type == "BIGINT":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            n = value
        else:
            f = float(value)
            if not math.isfinite(f) or f != int(f):
                raise ValueError(value)
            n = int(f)
        if not -2**63 <= n < 2**63:
            raise ValueError(value)
        return n
    if sql_type == "DOUBLE":
        if isinstance(value, (dict, list)):
            raise ValueError(value)
        return float(value)
    if sql_type == "BOOLEAN":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    return str(value)


def parse_samples(value: Any) -> list[int]:
    """samples_ns as llama-bench writes it (a JSON list; "[1, 2]" or "1 2" in text formats).

    Raises ValueError for anything else: negative, fractional, non-finite or out-of-range times."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        text = value.strip().strip("[]").replace(",", " ")
        value = text.split()
    if not isinstance(value, (list, tuple)) or len(value) > 1_000_000:
        raise ValueError("samples_ns is not a list")
    out = []
    for x in value:
        if isinstance(x, bool):
            raise ValueError("samples_ns holds a boolean")
        n = int(x) if isinstance(x, int) else float(x)
        if isinstance(n, float):
            if not math.isfinite(n) or n != int(n):
                raise ValueError(f"samples_ns holds {x!r}")
            n = int(n)
        if not 0 <= n < 2**63:
            raise ValueError(f"samples_ns holds {x!r}")
        out.append(n)
    return out


def split_record(record: dict) -> tuple[dict, dict, list[int]]:
    """(named columns, extra fields, samples_ns) of one llama-bench record."""
    columns: dict = {}
    extra: dict = {}
    samples_ns = parse_samples(record.get("samples_ns"))
    for key, value in record.items():
        if key in ("samples_ns", "samples_ts"):
            continue
        sql_type = RESULT_FIELDS.get(key)
        if sql_type is None:
            extra[key] = value
            continue
        try:
            columns[key] = _coerce(value, sql_type)
        except (TypeError, ValueError):
            extra[key] = value  # keep what did not fit the column, under its own name
    return columns, extra, samples_ns


def add_result(store: Store, run_id: int, record: dict, *, status: str = "ok",
               cell_key: str | None = None, error: str | None = None,
               stderr_tail: str | None = None, wall_s: float | None = None,
               row_hash: str | None = None) -> int:
    """Store one llama-bench test record (all fields by name; unknown ones in `extra`) and its samples."""
    columns, extra, samples_ns = split_record(record)
    names = ["run_id", "cell_key", "status", "error", "stderr_tail", "wall_s", "row_hash",
             *columns.keys(), "extra"]
    values = [run_id, cell_key, status, error, stderr_tail, wall_s, row_hash,
              *columns.values(), _json(extra) if extra else None]
    marks = ", ".join("?" for _ in names)
    result_id = int(store.execute(
        f"INSERT INTO results ({', '.join(names)}) VALUES ({marks}) RETURNING result_id", values
    ).fetchone()[0])
    if samples_ns:
        add_samples(store, result_id, samples_ns)
    return result_id


def add_memory_peak(store: Store, result_id: int, kind: str, peak_bytes: int, source: str) -> None:
    if not 0 <= int(peak_bytes) < 2**63:
        raise ValueError(f"peak {peak_bytes} bytes out of range")
    store.execute("INSERT INTO memory_peaks VALUES (?, ?, ?, ?)", [result_id, kind, int(peak_bytes), source])


# What names one llama-bench measurement in every output format (json, jsonl, csv, sql carry
# all of these; test_time + avg_ns alone almost never repeat).
_IDENTITY = ("build_commit", "build_number", "model_filename", "model_type", "model_size", "model_n_params",
             "n_batch", "n_ubatch", "n_threads", "type_k", "type_v", "n_gpu_layers", "flash_attn",
             "n_prompt", "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns")


def measurement_key(record: dict, *context: Any) -> str | None:
    """A hash of one measurement, the same whichever format carried it (values coerced to the
    column types: csv "13146321" and json 13146321 agree). None for records without llama-bench's
    own timing fields (community tables), which are told apart by their whole content instead."""
    if record.get("test_time") in (None, "") or record.get("avg_ns") in (None, ""):
        return None
    cols = {}
    for k in _IDENTITY:
        try:
            cols[k] = _coerce(record.get(k), RESULT_FIELDS[k])
        except (TypeError, ValueError):
            cols[k] = str(record.get(k))
    return "m:" + content_hash([cols, *context])


def stored_by_hash(store: Store, hashes: Iterable[str]) -> dict[str, tuple[int, int]]:
    """row_hash -> (result_id, number of samples stored) for the hashes already in the store."""
    wanted = list(set(hashes))
    if not wanted:
        return {}
    rows = store.execute(
        """SELECT r.row_hash, min(r.result_id), (SELECT count(*) FROM samples s WHERE s.result_id = min(r.result_id))
           FROM results r WHERE list_contains(?, r.row_hash) GROUP BY r.row_hash""", [wanted]).fetchall()
    return {h: (int(rid), int(n)) for h, rid, n in rows}


def add_samples(store: Store, result_id: int, samples_ns: list[int]) -> None:
    store.conn.executemany("INSERT INTO samples VALUES (?, ?, ?)",
                           [[result_id, i, ns] for i, ns in enumerate(samples_ns)])


def known_row_hashes(store: Store, hashes: Iterable[str]) -> set[str]:
    wanted = list(set(hashes))
    if not wanted:
        return set()
    rows = store.execute("SELECT DISTINCT row_hash FROM results WHERE list_contains(?, row_hash)",
                         [wanted]).fetchall()
    return {r[0] for r in rows}


def finished_cells(store: Store, label: str) -> set[str]:
    rows = store.execute(
        """SELECT DISTINCT r.cell_key FROM results r JOIN runs u USING (run_id)
           WHERE u.label = ? AND r.status = 'ok' AND r.cell_key IS NOT NULL""", [label]).fetchall()
    return {r[0] for r in rows}


def where_clause(filters: list[tuple[str, Any]]) -> tuple[str, list]:
    """(" WHERE a = ? AND b = ?", [values]) for the (column, value) filters whose value is not None."""
    used = [(col, v) for col, v in filters if v is not None]
    return (" WHERE " + " AND ".join(f"{col} = ?" for col, _ in used) if used else ""), [v for _, v in used]


def results(store: Store, *, run_id: int | None = None, label: str | None = None,
            status: str | None = "ok", with_samples: bool = True) -> list[dict]:
    """Result rows as dicts (named fields, `extra` merged under its key, `samples_ns` list)."""
    where, args = where_clause([("r.run_id", run_id), ("u.label", label), ("r.status", status)])
    cur = store.execute("SELECT r.*, u.label, u.hardware, u.backend AS run_backend FROM results r "
                        "JOIN runs u USING (run_id)" + where + " ORDER BY r.result_id", args)
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    for row in rows:
        row["extra"] = _loads(row["extra"]) or {}
    if with_samples and rows:
        ids = [row["result_id"] for row in rows]
        by_id: dict[int, list[int]] = {}
        for rid, ns in store.execute(
            "SELECT result_id, sample_ns FROM samples WHERE list_contains(?, result_id) "
            "ORDER BY result_id, idx", [ids]
        ).fetchall():
            by_id.setdefault(rid, []).append(int(ns))
        for row in rows:
            row["samples_ns"] = by_id.get(row["result_id"], [])
    return rows


def memory_peaks(store: Store, result_id: int) -> dict[str, int]:
    rows = store.execute("SELECT kind, max(peak_bytes) FROM memory_peaks WHERE result_id = ? GROUP BY kind",
                         [result_id]).fetchall()
    return {k: int(v) for k, v in rows}


# --- calibrations and predictions --------------------------------------------------------

_CAL_COLUMNS = ("calibration_id", "hardware", "backend", "created_at", "params", "covariance",
                "residual_stats", "data_range")


def _cal_dict(row) -> dict:
    d = dict(zip(_CAL_COLUMNS, row))
    for k in ("params", "covariance", "residual_stats", "data_range"):
        d[k] = _loads(d[k])
    return d


def save_calibration(store: Store, hardware: str, backend: str, params: dict, *,
                     covariance: Any = None, residual_stats: dict | None = None,
                     data_range: dict | None = None) -> int:
    """Store a fitted calibration; `data_range` says which runs/builds/sizes it was fitted on."""
    return int(store.execute(
        """INSERT INTO calibrations (hardware, backend, created_at, params, covariance, residual_stats, data_range)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING calibration_id""",
        [hardware, backend, _now(), _json(params), _json(covariance), _json(residual_stats), _json(data_range)],
    ).fetchone()[0])


def get_calibration(store: Store, calibration_id: int) -> dict | None:
    row = store.execute(f"SELECT {', '.join(_CAL_COLUMNS)} FROM calibrations WHERE calibration_id = ?",
                        [calibration_id]).fetchone()
    return _cal_dict(row) if row else None


def latest_calibration(store: Store, hardware: str, backend: str) -> dict | None:
    row = store.execute(
        f"""SELECT {', '.join(_CAL_COLUMNS)} FROM calibrations WHERE hardware = ? AND backend = ?
            ORDER BY created_at DESC, calibration_id DESC LIMIT 1""", [hardware, backend]).fetchone()
    return _cal_dict(row) if row else None


def add_prediction(store: Store, *, config: dict, predicted_tps: float | None = None,
                   lo_tps: float | None = None, hi_tps: float | None = None,
                   predicted_bytes: int | None = None, result_id: int | None = None,
                   run_id: int | None = None, calibration_id: int | None = None) -> int:
    from vtt import __version__

    return int(store.execute(
        """INSERT INTO predictions (result_id, run_id, created_at, calibration_id, config, predicted_tps,
                                    lo_tps, hi_tps, predicted_bytes, vtt_version)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING prediction_id""",
        [result_id, run_id, _now(), calibration_id, _json(config), predicted_tps, lo_tps, hi_tps,
         predicted_bytes, __version__],
    ).fetchone()[0])


def predictions(store: Store, run_id: int | None = None) -> list[dict]:
    sql = "SELECT * FROM predictions"
    args = []
    if run_id is not None:
        sql += " WHERE run_id = ?"
        args.append(run_id)
    cur = store.execute(sql + " ORDER BY prediction_id", args)
    names = [d[0] for d in cur.description]
    out = [dict(zip(names, r)) for r in cur.fetchall()]
    for d in out:
        d["config"] = _loads(d["config"])
    return out
