"""The vtt results database (DuckDB). The only package that imports duckdb."""

from vtt.store.db import Store, default_db_path, open_store
from vtt.store.records import (
    add_memory_peak,
    add_prediction,
    add_result,
    add_run,
    content_hash,
    count_results,
    find_runs,
    finished_cells,
    get_calibration,
    get_machine,
    get_run,
    known_row_hashes,
    latest_calibration,
    memory_peaks,
    predictions,
    resolve_run,
    results,
    save_calibration,
    set_run_status,
    upsert_machine,
)

__all__ = [
    "Store", "default_db_path", "open_store", "add_memory_peak", "add_prediction", "add_result",
    "add_run", "content_hash", "count_results", "find_runs", "finished_cells", "get_calibration",
    "get_machine", "get_run", "known_row_hashes", "latest_calibration", "memory_peaks", "predictions",
    "resolve_run", "results", "save_calibration", "set_run_status", "upsert_machine",
]
