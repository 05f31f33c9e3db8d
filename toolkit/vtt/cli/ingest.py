"""`vtt ingest`: other people's llama-bench outputs into the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vtt.cli.options import BackendOption, DbOption, HardwareOption, JsonOption


def ingest(
    files: list[Path] = typer.Argument(..., help="llama-bench .json/.jsonl/.csv/.sql/.md, or a community CSV."),
    db: DbOption = None,
    label: Optional[str] = typer.Option(None, "--label", help="Run label (default: the file name without suffix)."),
    hardware: HardwareOption = None,
    backend: BackendOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store llama-bench results from files; rows already in the database are skipped.

    Reads llama-bench -o json/jsonl/csv/sql/md, from any build (use_mmap or load_mode, with or
    without samples_ns), and CSVs with one row per test and pp_tps/tg_tps columns. Unknown
    columns are kept. Ingesting the same file twice adds nothing.

    Example:
      vtt ingest results.jsonl strix_halo_calibration.csv --hardware strix-halo --backend vulkan
    """
    from vtt.harness.ingest import ingest_files

    summary = ingest_files(files, db=db, label=label, hardware=hardware, backend=backend)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for s in summary:
        run = f" as run {s['run_id']}" if s["run_id"] else ""
        merged = f", samples added to {s['samples_merged']} stored" if s.get("samples_merged") else ""
        print(f"{s['file']} ({s['format']}): {s['added']} added, {s['duplicates']} already stored{merged}, "
              f"{s.get('skipped', 0)} malformed skipped{run}")
        for line in s.get("skipped_rows", [])[:20]:
            print(f"  skipped {line}")
