"""`vtt runs`: list what the database holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def runs(
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file (default ~/.local/share/vtt/vtt.duckdb)."),
    label: Optional[str] = typer.Option(None, "--label", help="Only runs with this label."),
    as_json: bool = typer.Option(False, "--json", help="Print runs as JSON on stdout."),
) -> None:
    """List runs (benchmarks and ingested files) with their status and result counts.

    Example:
      vtt runs --db results.duckdb
    """
    from vtt import store

    with store.open_store(db, read_only=True) as s:
        rows = store.find_runs(s, label=label)
        for r in rows:
            r["results"] = store.count_results(s, r["run_id"])
            if r["source"] == "serve":  # serve runs keep their requests in serve_requests
                from vtt.store.serve_records import count_requests

                r["results"] = count_requests(s, r["run_id"])
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
