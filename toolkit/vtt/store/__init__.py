"""The vtt results database (DuckDB). The only package that imports duckdb."""

from vtt.store.db import Store, default_db_path, open_store, yield_to_waiters
from vtt.store.owners import reap_dead_runs
from vtt.store.records import (
    add_memory_peak,
    add_prediction,
    add_result,
    add_run,
    add_samples,
    claim_run,
    open_labelled_run,
    content_hash,
    count_results,
    find_runs,
    finished_cells,
    get_calibration,
    get_machine,
    get_run,
    known_row_hashes,
    measurement_key,
    parse_samples,
    latest_calibration,
    memory_peaks,
    predictions,
    resolve_run,
    results,
    save_calibration,
    set_run_params,
    stored_by_hash,
    set_run_status,
    transaction,
    upsert_machine,
)

__all__ = [
    "Store", "default_db_path", "open_store", "add_memory_peak", "add_prediction", "add_result",
    "add_run", "content_hash", "count_results", "find_runs", "finished_cells", "get_calibration",
    "get_machine", "get_run", "known_row_hashes", "latest_calibration", "memory_peaks", "predictions",
    "resolve_run", "results", "save_calibration", "set_run_status", "upsert_machine",
    "claim_run", "open_labelled_run", "measurement_key", "parse_samples", "reap_dead_runs", "set_run_params", "transaction",
    "add_samples", "stored_by_hash", "yield_to_waiters",
]
