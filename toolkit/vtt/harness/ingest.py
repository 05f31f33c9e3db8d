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
from pathlib import Path

from vtt.errors import BadQuery
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


def read_json(text: str) -> list[dict]:
    data = json.loads(text)
    rows = data if isinstance(data, list) else [data]
    return [r for r in rows if isinstance(r, dict)]


def read_jsonl(text: str) -> list[dict]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise BadQuery(f"line {n}: not JSON") from None
    return rows


def read_markdown(text: str) -> list[dict]:
    """llama-bench's `-o md` table; 'build: 0c1e570 (1)' below it gives the build."""
    lines = [ln.strip() for ln in text.splitlines()]
    table = [ln for ln in lines if ln.startswith("|")]
    if len(table) < 3:
        return []
    header = [c.strip().lower() for c in table[0].strip("|").split("|")]
    build = re.search(r"build:\s*(\w+)\s*\((\d+)\)", text)
    rows = []
    for line in table[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        row: dict = {}
        for name, value in zip(header, cells):
            if name == "test":
                row.update(parse_test(value))
            elif name == "t/s":
                row["avg_ts"], row["stddev_ts"] = parse_tps(value)
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
        rows.append(dict(zip(cols, _sql_values(m.group(2)))))
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
    rows = [dict(r) for r in reader]
    if {"pp_tps", "tg_tps"} & fields:
        return [_community_row(r) for r in rows]
    return [{k: v for k, v in r.items() if v != ""} for r in rows]


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


def read_bench_file(path: str | Path) -> tuple[str, list[dict]]:
    """(format, records) of one file; a file that cannot be read or parsed is bad input naming the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise BadQuery(f"cannot read {p}: {e.strerror}") from None
    fmt = detect_format(p, text)
    try:
        records = READERS[fmt](text)
    except BadQuery as e:
        raise BadQuery(f"{p}: {e.message}") from None
    except (ValueError, csv.Error) as e:
        raise BadQuery(f"{p}: cannot parse as {fmt}: {e}") from None
    if not records:
        raise BadQuery(f"{p}: no llama-bench results found (read as {fmt})")
    return fmt, records


def ingest_files(paths: list[str | Path], *, db=None, label: str | None = None, hardware: str | None = None,
                 backend: str | None = None) -> list[dict]:
    """Store every new row of every file; a run per file that adds rows. Returns a summary per file."""
    from vtt import store

    parsed = [(Path(p), *read_bench_file(p)) for p in paths]  # parse all before writing anything
    summary = []
    with store.open_store(db) as s:
        for path, fmt, records in parsed:
            hashed = []
            for record in records:
                peak_mib = record.pop("mem_peak_mib", None)
                h = store.content_hash([record, peak_mib, hardware, backend])
                hashed.append((h, record, peak_mib))
            known = store.known_row_hashes(s, [h for h, _, _ in hashed])
            fresh, seen = [], set(known)
            for h, record, peak_mib in hashed:
                if h not in seen:
                    seen.add(h)
                    fresh.append((h, record, peak_mib))
            run_id = None
            if fresh:
                run_id = store.add_run(s, label or path.stem, source="ingest", status="ok", hardware=hardware,
                                       backend=backend, params={"file": str(path.resolve()), "format": fmt})
                for h, record, peak_mib in fresh:
                    rid = store.add_result(s, run_id, record, row_hash=h)
                    if peak_mib not in (None, ""):
                        try:
                            store.add_memory_peak(s, rid, "reported", int(float(peak_mib) * MIB), "mem_peak_mib")
                        except ValueError:
                            pass
            summary.append({"file": str(path), "format": fmt, "rows": len(records), "added": len(fresh),
                            "duplicates": len(records) - len(fresh), "run_id": run_id})
    return summary
