"""Read llama-bench outputs from other people into llama-bench-shaped records.

Formats: json, jsonl, csv, sql (`-o sql` INSERTs), markdown tables, and the community CSV shape of
strix_halo_calibration.csv (one row per test with pp_tps / tg_tps). Fields are matched by name, so
builds that differ (use_mmap vs load_mode, no samples_ns) all fit; unknown columns are kept.
Each row gets a content hash, so ingesting a file twice adds nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from pathlib import Path

from vtt.errors import BadQuery
from vtt.textsafe import printable
from vtt.units import GIB, MIB

_TPS = re.compile(r"^\s*([\d.]+)\s*(?:±\s*([\d.]+))?\s*$")
_TEST = re.compile(r"^(?:pp(\d+))?\+?(?:tg(\d+))?(?:\s*@\s*d(\d+))?$")
_SIZE_UNITS = {"b": 1, "kib": 1024, "mib": MIB, "gib": GIB}
_COUNT_UNITS = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
# markdown column -> llama-bench field
_MD_COLUMNS = {"model": "model_type", "backend": "backends", "threads": "n_threads", "ngl": "n_gpu_layers",
               "n_batch": "n_batch", "n_ubatch": "n_ubatch", "fa": "flash_attn", "type_k": "type_k",
               "type_v": "type_v", "mmap": "use_mmap", "dev": "devices", "sm": "split_mode",
               "nkvo": "no_kv_offload", "embd": "embeddings", "ts": "tensor_split"}


def parse_test(name: str) -> dict:
    """'pp512 @ d4096' -> n_prompt 512, n_gen 0, n_depth 4096 (also 'tg128', 'pp512+tg128')."""
    m = _TEST.match(name.strip())
    if not m or not (m.group(1) or m.group(2)):
        raise ValueError(f"not a llama-bench test name: '{name}'")
    return {"n_prompt": int(m.group(1) or 0), "n_gen": int(m.group(2) or 0), "n_depth": int(m.group(3) or 0)}


def parse_tps(text: str) -> tuple[float, float | None]:
    m = _TPS.match(text)
    if not m:
        raise ValueError(f"not a t/s cell: '{text}'")
    return float(m.group(1)), float(m.group(2)) if m.group(2) else None


def _parse_size(text: str) -> int | None:
    m = re.match(r"^\s*([\d.]+)\s*([KMG]iB|B)\s*$", text, re.I)
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]) if m else None


def _parse_count(text: str) -> int | None:
    m = re.match(r"^\s*([\d.]+)\s*([KMBT]?)\s*$", text, re.I)
    return int(float(m.group(1)) * _COUNT_UNITS[m.group(2).lower()]) if m else None


def _leading_int(text: str) -> int | None:
    m = re.match(r"^\s*(-?\d+)", str(text))
    return int(m.group(1)) if m else None


# Where each record came from, for messages about a malformed row: popped before storing.
WHERE = "_vtt_where"


def read_json(text: str) -> list[dict]:
    data = json.loads(text)
    rows = data if isinstance(data, list) else [data]
    out = []
    for n, r in enumerate(rows, 1):
        out.append({**r, WHERE: f"item {n}"} if isinstance(r, dict) else {WHERE: f"item {n}", BAD: "not a JSON object"})
    return out


BAD = "_vtt_bad"  # a row that could not be read: the reason, reported and skipped


def read_jsonl(text: str) -> list[dict]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except (ValueError, RecursionError):
            rows.append({WHERE: f"line {n}", BAD: "not JSON"})
            continue
        rows.append({**r, WHERE: f"line {n}"} if isinstance(r, dict) else {WHERE: f"line {n}", BAD: "not a JSON object"})
    if rows and all(BAD in r for r in rows):
        raise BadQuery(f"line {rows[0][WHERE].split()[-1]}: {rows[0][BAD]} (no line of the file is a JSON object)")
    return rows


def read_markdown(text: str) -> list[dict]:
    """llama-bench's `-o md` table; 'build: 0c1e570 (1)' below it gives the build."""
    lines = [ln.strip() for ln in text.splitlines()]
    table = [ln for ln in lines if ln.startswith("|")]
    if len(table) < 2:
        return []
    header = [c.strip().lower() for c in table[0].strip("|").split("|")]
    build = re.search(r"build:\s*(\w+)\s*\((\d+)\)", text)
    rows = []
    for k, line in enumerate(table[1:], 2):
        cells = [c.strip() for c in line.strip("|").split("|")]
        # the |---|---:| line under the header, recognised by its cells (a table pasted without it,
        # as logs copied from a page often are, loses no row)
        if all(re.fullmatch(r":?-+:?", c) for c in cells):
            continue
        row: dict = {WHERE: f"table row {k}"}
        for name, value in zip(header, cells):
            if name == "test":
                try:
                    row.update(parse_test(value))
                except ValueError as e:
                    row[BAD] = str(e)
            elif name == "t/s":
                try:
                    row["avg_ts"], row["stddev_ts"] = parse_tps(value)
                except ValueError as e:
                    row[BAD] = str(e)
            elif name == "size":
                row["model_size"] = _parse_size(value)
            elif name == "params":
                row["model_n_params"] = _parse_count(value)
            else:
                row[_MD_COLUMNS.get(name, name)] = value
        if build:
            row["build_commit"], row["build_number"] = build.group(1), int(build.group(2))
        rows.append(row)
    return rows


def _sql_values(text: str) -> list:
    """Values of one SQL VALUES (...) list: quoted strings ('' escapes) and bare numbers."""
    values, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "'":
            j, buf = i + 1, []
            while j < len(text):
                if text[j] == "'" and text[j + 1:j + 2] == "'":
                    buf.append("'")
                    j += 2
                elif text[j] == "'":
                    break
                else:
                    buf.append(text[j])
                    j += 1
            values.append("".join(buf))
            i = j + 1
        elif c in ", \t\n":
            i += 1
        else:
            m = re.match(r"[^,\s]+", text[i:])
            token = m.group(0)
            values.append(None if token.upper() == "NULL" else token)
            i += len(token)
    return values


def read_sql(text: str) -> list[dict]:
    rows = []
    for m in re.finditer(r"INSERT INTO\s+\w+\s*\(([^)]*)\)\s*VALUES\s*\((.*?)\);\s*$", text, re.S | re.M):
        cols = [c.strip() for c in m.group(1).split(",")]
        where = f"line {text.count(chr(10), 0, m.start()) + 1}"
        values = _sql_values(m.group(2))
        if len(values) != len(cols):
            rows.append({WHERE: where, BAD: f"{len(values)} values for {len(cols)} columns"})
            continue
        rows.append({**dict(zip(cols, values)), WHERE: where})
    return rows


def _community_row(row: dict) -> dict:
    """One row of a strix_halo_calibration.csv-shaped file as a llama-bench record."""
    out: dict = {}
    extra = dict(row)
    tps = row.get("pp_tps") or row.get("tg_tps")
    out["avg_ts"] = float(tps) if tps else None
    for name in ("n_prompt", "n_gen", "n_depth", "flash_attn"):
        if row.get(name) not in (None, ""):
            out[name] = _leading_int(row[name])
            extra.pop(name)
    if row.get("n_ubatch"):
        out["n_ubatch"] = _leading_int(row["n_ubatch"])  # "512 (default)"
        extra.pop("n_ubatch")
    build = re.match(r"^\s*b?(\d+)?\s*\(?(\w+)?\)?", row.get("llama_cpp_build") or "")
    if build and build.group(1):
        out["build_number"] = int(build.group(1))
    if build and build.group(2):
        out["build_commit"] = build.group(2)
    out["backends"] = row.get("backend")
    out["model_filename"] = row.get("model")
    if row.get("file_size_gib"):
        out["model_size"] = int(float(row["file_size_gib"]) * GIB)
    spread = re.search(r"t/s='[\d.]+\s*±\s*([\d.]+)'", row.get("notes") or "")
    if spread:
        out["stddev_ts"] = float(spread.group(1))
    for name in ("pp_tps", "tg_tps", "backend", "model"):
        extra.pop(name, None)
    out.update({k: v for k, v in extra.items() if v not in (None, "")})
    return out


def read_csv(text: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    fields = set(reader.fieldnames or [])
    community = bool({"pp_tps", "tg_tps"} & fields)
    out = []
    for r in reader:
        where = f"line {reader.line_num}"
        row = dict(r)
        surplus = row.pop(None, None)  # more cells than header fields (a trailing comma ...)
        if surplus and any(str(x).strip() for x in surplus):
            out.append({WHERE: where, BAD: f"{len(fields) + len(surplus)} cells for {len(fields)} columns"})
            continue
        if any(v is None for v in row.values()) and not community:
            out.append({WHERE: where, BAD: f"fewer cells than the {len(fields)} columns"})
            continue
        try:
            rec = _community_row(row) if community else {k: v for k, v in row.items() if v != ""}
        except (ValueError, TypeError) as e:
            out.append({WHERE: where, BAD: f"unreadable ({e})"})
            continue
        out.append({**rec, WHERE: where})
    return out


READERS = {"json": read_json, "jsonl": read_jsonl, "md": read_markdown, "sql": read_sql, "csv": read_csv}


def detect_format(path: Path, text: str) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext in READERS:
        return ext
    if ext == "markdown":
        return "md"
    head = text.lstrip()[:200]
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        return "jsonl"
    if head.startswith("|"):
        return "md"
    if "INSERT INTO" in text or head.upper().startswith("CREATE TABLE"):
        return "sql"
    return "csv"


MAX_FILE_BYTES = 256 * 2**20  # a 5,000-row llama-bench json is ~10 MB
CHUNK_ROWS = 200  # results per transaction: short enough for other writers to get the lock


def _read_text(p: Path) -> str:
    """The file's text; a FIFO, device (/dev/zero) or oversized file is refused before reading."""
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise BadQuery(f"{p}: not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise BadQuery(f"{p}: {st.st_size >> 20} MiB is larger than the {MAX_FILE_BYTES >> 20} MiB ingest cap")
        with p.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise BadQuery(f"cannot read {p}: no such file") from None
    except OSError as e:
        raise BadQuery(f"cannot read {p}: {e.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise BadQuery(f"{p}: larger than the {MAX_FILE_BYTES >> 20} MiB ingest cap")
    return data.decode("utf-8", errors="replace")


def _check_record(record: dict) -> str | None:
    """Why a parsed record cannot be stored, or None."""
    from vtt.store.records import parse_samples

    if BAD in record:
        return record[BAD]
    try:
        parse_samples(record.get("samples_ns"))
    except (TypeError, ValueError) as e:
        return f"bad samples_ns ({e})"
    if not any(record.get(k) not in (None, "") for k in ("avg_ts", "avg_ns", "samples_ns")):
        return "no speed (avg_ts, avg_ns or samples_ns)"
    try:
        json.dumps(record, allow_nan=True, default=str)
    except (TypeError, ValueError, RecursionError) as e:
        return f"unstorable value ({e.__class__.__name__})"
    return None


def read_bench_file(path: str | Path) -> tuple[str, list[dict]]:
    """(format, records) of one file; a file that cannot be read or parsed is bad input naming the file.

    Records keep `WHERE` (line or item) and, when malformed, `BAD` (why): `ingest_files` reports
    and skips those."""
    p = Path(path)
    text = _read_text(p)
    fmt = detect_format(p, text)
    try:
        records = READERS[fmt](text)
    except BadQuery as e:
        raise BadQuery(f"{p}: {e.message}") from None
    except RecursionError:
        raise BadQuery(f"{p}: cannot parse as {fmt}: nested too deeply") from None
    except (ValueError, csv.Error) as e:
        raise BadQuery(f"{p}: cannot parse as {fmt}: {e}") from None
    if not records:
        raise BadQuery(f"{p}: no llama-bench results found (read as {fmt})")
    for r in records:
        if BAD not in r:
            why = _check_record(r)
            if why:
                r[BAD] = why
    if all(BAD in r for r in records):
        first = records[0]
        raise BadQuery(f"{p}: {first.get(WHERE, '')}: {first[BAD]}; no row could be read (as {fmt})")
    return fmt, records


def ingest_files(paths: list[str | Path], *, db=None, label: str | None = None, hardware: str | None = None,
                 backend: str | None = None, chunk_rows: int = CHUNK_ROWS) -> list[dict]:
    """Store every new row of every file; a run per file that adds rows. Returns a summary per file.

    Each result is written with its samples and memory peak in one transaction, `chunk_rows`
    results per transaction, the database closed between chunks so a concurrent `bench run` gets
    the lock. The run is 'running' (owned by this process) until its last chunk is committed, then
    'ok'; a kill in between leaves it to be marked 'interrupted', and a re-ingest adds what is missing.
    Malformed rows are skipped and named (file:line) in the summary and in the run's params.
    """
    from vtt import store

    parsed = [(Path(p), *read_bench_file(p)) for p in paths]  # parse all before writing anything
    summary = []
    for path, fmt, records in parsed:
        skipped = [printable(f"{path.name}:{r[WHERE]}: {r[BAD]}") for r in records if BAD in r]
        good = [{k: v for k, v in r.items() if k != WHERE} for r in records if BAD not in r]
        hashed = []
        for record in good:
            peak_mib = record.pop("mem_peak_mib", None)
            key = store.measurement_key(record, hardware, backend) or store.content_hash(
                [record, peak_mib, hardware, backend])
            hashed.append((key, record, peak_mib))
        params = {"file": str(path.resolve()), "format": fmt, "rows": len(records), "skipped": len(skipped),
                  "skipped_rows": skipped[:50]}
        run_id = None
        added = merged = 0
        seen: set[str] = set()
        for i in range(0, len(hashed), chunk_rows):
            chunk = hashed[i:i + chunk_rows]
            if i:
                store.yield_to_waiters(db)  # a bench run waiting to store a cell goes first
            with store.open_store(db) as s, store.transaction(s):
                known = store.stored_by_hash(s, [h for h, _, _ in chunk])
                for h, record, peak_mib in chunk:
                    if h in seen:
                        continue
                    seen.add(h)
                    if h in known:  # the same measurement, maybe from another format of the same run
                        rid, n_samples = known[h]
                        samples = store.parse_samples(record.get("samples_ns"))
                        if samples and not n_samples:
                            store.add_samples(s, rid, samples)
                            merged += 1
                        continue
                    if run_id is None:
                        run_id = store.add_run(s, label or printable(path.stem, 200), source="ingest", status="running",
                                               hardware=hardware, backend=backend, params=params)
                    rid = store.add_result(s, run_id, record, row_hash=h)
                    added += 1
                    if peak_mib not in (None, ""):
                        try:
                            store.add_memory_peak(s, rid, "reported", int(float(peak_mib) * MIB), "mem_peak_mib")
                        except (ValueError, OverflowError):
                            pass
        if run_id is not None:
            with store.open_store(db) as s:
                store.set_run_status(s, run_id, "ok")
        summary.append({"file": str(path), "format": fmt, "rows": len(records), "added": added,
                        "duplicates": len(good) - added, "samples_merged": merged, "skipped": len(skipped),
                        "skipped_rows": skipped, "run_id": run_id})
    return summary
