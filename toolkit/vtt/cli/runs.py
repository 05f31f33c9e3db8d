"""`vtt runs`: list what the database holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vtt.cli.options import DbOption, JsonOption


def list_runs(db: str | Path | None = None, label: str | None = None) -> list[dict]:
    """The runs in the database, oldest first, each with its result counts by status.

    A database that does not exist yet, or holds no vtt tables, has no runs: an empty list.
    """
    from vtt import store

    path = Path(db) if db else store.default_db_path()
    if not path.exists():
        return []
    with store.open_store(path, read_only=True) as s:
        tables = {r[0] for r in s.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "runs" not in tables:
            return []
        rows = store.find_runs(s, label=label)
        for r in rows:
            r["results"] = store.count_results(s, r["run_id"])
            if r["source"] == "serve":  # serve runs keep their requests in serve_requests
                from vtt.store.serve_records import count_requests

                r["results"] = count_requests(s, r["run_id"])
    return rows


def runs(
    db: DbOption = None,
    label: Optional[str] = typer.Option(None, "--label", help="Only runs with this label."),
    as_json: JsonOption = False,
) -> None:
    """List runs (benchmarks and ingested files) with their status and result counts.

    An empty or missing database lists nothing (exit 0).

    Example:
      vtt runs --db results.duckdb
    """
    rows = list_runs(db, label)
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for name in ("run", "label", "source", "status", "started", "ok", "failed", "build"):
        table.add_column(name)
    for r in rows:
        build = r.get("build") or {}
        table.add_row(str(r["run_id"]), r["label"], r["source"], r["status"], str(r["started_at"])[:19],
                      str(r["results"].get("ok", 0)), str(r["results"].get("failed", 0)),
                      str(build.get("build_commit") or ""))
    Console().print(table)
