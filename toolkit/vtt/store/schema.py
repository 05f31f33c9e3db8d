"""The DuckDB schema as ordered, registered migrations (sqlite-utils style).

Each migration runs once, in a transaction, and is recorded in `vtt_migrations`;
`schema_version()` is the number applied. Never edit an applied migration: add a new one.
"""

from __future__ import annotations

from typing import Callable

# (name, function(conn)) in the order they must run.
MIGRATIONS: list[tuple[str, Callable]] = []

# llama-bench record fields kept as named columns (tools/llama-bench/llama-bench.cpp, plus
# names from older builds: use_mmap/use_direct_io before load_mode). Anything else goes to `extra`.
RESULT_FIELDS: dict[str, str] = {
    "build_commit": "VARCHAR",
    "build_number": "BIGINT",
    "cpu_info": "VARCHAR",
    "gpu_info": "VARCHAR",
    "backends": "VARCHAR",
    "model_filename": "VARCHAR",
    "model_type": "VARCHAR",
    "model_size": "BIGINT",
    "model_n_params": "BIGINT",
    "n_batch": "BIGINT",
    "n_ubatch": "BIGINT",
    "n_threads": "BIGINT",
    "cpu_mask": "VARCHAR",
    "cpu_strict": "BOOLEAN",
    "poll": "BIGINT",
    "type_k": "VARCHAR",
    "type_v": "VARCHAR",
    "n_gpu_layers": "BIGINT",
    "n_cpu_moe": "BIGINT",
    "split_mode": "VARCHAR",
    "main_gpu": "BIGINT",
    "no_kv_offload": "BOOLEAN",
    "flash_attn": "BIGINT",
    "devices": "VARCHAR",
    "tensor_split": "VARCHAR",
    "tensor_buft_overrides": "VARCHAR",
    "load_mode": "VARCHAR",
    "use_mmap": "BOOLEAN",
    "embeddings": "BOOLEAN",
    "no_op_offload": "BIGINT",
    "no_host": "BOOLEAN",
    "fit_target": "BIGINT",
    "fit_min_ctx": "BIGINT",
    "n_prompt": "BIGINT",
    "n_gen": "BIGINT",
    "n_depth": "BIGINT",
    "test_time": "VARCHAR",
    "avg_ns": "DOUBLE",
    "stddev_ns": "DOUBLE",
    "avg_ts": "DOUBLE",
    "stddev_ts": "DOUBLE",
}


def migration(name: str):
    """Register `fn` as the next migration."""

    def register(fn):
        if any(n == name for n, _ in MIGRATIONS):
            raise ValueError(f"duplicate migration {name}")
        MIGRATIONS.append((name, fn))
        return fn

    return register


@migration("0001_initial")
def create_initial_tables(conn) -> None:
    conn.execute("CREATE SEQUENCE run_id_seq START 1")
    conn.execute("CREATE SEQUENCE result_id_seq START 1")
    conn.execute("CREATE SEQUENCE calibration_id_seq START 1")
    conn.execute("CREATE SEQUENCE prediction_id_seq START 1")
    conn.execute(
        """CREATE TABLE machines (
            machine_id VARCHAR PRIMARY KEY,  -- content hash of the fingerprint
            created_at TIMESTAMP,
            fingerprint JSON)"""
    )
    conn.execute(
        """CREATE TABLE runs (
            run_id BIGINT PRIMARY KEY DEFAULT nextval('run_id_seq'),
            label VARCHAR NOT NULL,
            source VARCHAR NOT NULL,        -- 'bench' or 'ingest'
            status VARCHAR NOT NULL,        -- running, ok, failed, interrupted
            started_at TIMESTAMP,
            finished_at TIMESTAMP,
            machine_id VARCHAR,
            hardware VARCHAR,
            backend VARCHAR,
            llama_bench_path VARCHAR,
            build JSON,                     -- commit, number, sdist version of llama.cpp
            vtt_version VARCHAR,
            params JSON)                    -- matrix / argv / ingested files"""
    )
    fields = ",\n".join(f"{name} {sql_type}" for name, sql_type in RESULT_FIELDS.items())
    conn.execute(
        f"""CREATE TABLE results (
            result_id BIGINT PRIMARY KEY DEFAULT nextval('result_id_seq'),
            run_id BIGINT NOT NULL,
            cell_key VARCHAR,
            status VARCHAR NOT NULL,        -- ok or failed
            error VARCHAR,
            stderr_tail VARCHAR,
            wall_s DOUBLE,
            row_hash VARCHAR,
            {fields},
            extra JSON)"""
    )
    conn.execute("CREATE INDEX results_run ON results(run_id)")
    conn.execute("CREATE INDEX results_hash ON results(row_hash)")
    conn.execute(
        """CREATE TABLE samples (
            result_id BIGINT NOT NULL,
            idx INTEGER NOT NULL,
            sample_ns BIGINT NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE memory_peaks (
            result_id BIGINT NOT NULL,
            kind VARCHAR NOT NULL,          -- rss, vram, gtt, reported
            peak_bytes BIGINT NOT NULL,
            source VARCHAR)"""
    )
    conn.execute(
        """CREATE TABLE calibrations (
            calibration_id BIGINT PRIMARY KEY DEFAULT nextval('calibration_id_seq'),
            hardware VARCHAR NOT NULL,
            backend VARCHAR NOT NULL,
            created_at TIMESTAMP,
            params JSON,
            covariance JSON,
            residual_stats JSON,
            data_range JSON)"""
    )
    conn.execute(
        """CREATE TABLE predictions (
            prediction_id BIGINT PRIMARY KEY DEFAULT nextval('prediction_id_seq'),
            result_id BIGINT,
            run_id BIGINT,
            created_at TIMESTAMP,
            calibration_id BIGINT,
            config JSON,
            predicted_tps DOUBLE,
            lo_tps DOUBLE,
            hi_tps DOUBLE,
            predicted_bytes BIGINT,
            vtt_version VARCHAR)"""
    )


def apply_migrations(conn) -> list[str]:
    """Run the migrations not yet applied, each in its own transaction; return their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS vtt_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMP)"
    )
    done = {r[0] for r in conn.execute("SELECT name FROM vtt_migrations").fetchall()}
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            fn(conn)
            conn.execute("INSERT INTO vtt_migrations VALUES (?, now())", [name])
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def schema_version(conn) -> int:
    return conn.execute("SELECT count(*) FROM vtt_migrations").fetchone()[0]


@migration("0002_op_results")
def create_op_results(conn) -> None:
    """Operator benchmarks (`vtt bench ops`: test-backend-ops perf), one row per op at one shape.
    The run (machine fingerprint, build, backend) is a row of `runs` with source 'ops'."""
    conn.execute("CREATE SEQUENCE IF NOT EXISTS op_result_id_seq START 1")
    conn.execute(
        """CREATE TABLE IF NOT EXISTS op_results (
            op_result_id BIGINT PRIMARY KEY DEFAULT nextval('op_result_id_seq'),
            run_id BIGINT NOT NULL,
            case_key VARCHAR,               -- vtt's id of the shape (NULL: a row vtt did not ask for)
            op VARCHAR NOT NULL,            -- MUL_MAT, MUL_MAT_ID, FLASH_ATTN_EXT
            shape JSON,                     -- the dims the FLOPs come from
            backend_name VARCHAR,           -- test-backend-ops' name: CPU, Vulkan0, ROCm0
            op_params VARCHAR,              -- test-backend-ops' own description of the case
            supported BOOLEAN,
            time_us DOUBLE,                 -- mean time per op
            n_runs BIGINT,
            flops_per_op DOUBLE,
            flops_s DOUBLE,                 -- flops_per_op / time
            tool_flops_s DOUBLE,            -- test-backend-ops' own figure (0 for generic ops)
            bandwidth_gb_s DOUBLE,
            memory_kb BIGINT,
            build_commit VARCHAR,
            device_description VARCHAR,
            test_time VARCHAR)"""
    )
    conn.execute("CREATE INDEX IF NOT EXISTS op_results_run ON op_results(run_id)")


@migration("serve_0001_tables")
def create_serve_tables(conn) -> None:
    """`vtt bench serve`: requests to a real llama-server, memory samples over time, llama.cpp's and
    vtt's memory per context, context-stress probes, and summaries (soak slopes, load slowdown,
    code-quality scores). A serve run is a `runs` row with source 'serve'."""
    conn.execute("CREATE SEQUENCE serve_request_id_seq START 1")
    conn.execute(
        """CREATE TABLE serve_requests (
            request_id BIGINT PRIMARY KEY DEFAULT nextval('serve_request_id_seq'),
            run_id BIGINT NOT NULL,
            request_key VARCHAR NOT NULL,   -- request id '#' repetition: what --resume skips on
            workload VARCHAR,
            request VARCHAR,
            status VARCHAR NOT NULL,        -- ok or failed
            error VARCHAR,
            finished_at TIMESTAMP,
            t_start_s DOUBLE,               -- seconds since the server was up
            n_ctx BIGINT,
            prompt_tokens BIGINT,
            cached_tokens BIGINT,
            output_tokens BIGINT,
            ttft_s DOUBLE,
            decode_tps DOUBLE,
            e2e_s DOUBLE,
            rss_bytes BIGINT,               -- server RSS when the request finished
            rss_peak_bytes BIGINT,          -- highest RSS sampled during it
            gpu_bytes BIGINT,
            timings JSON,                   -- the server's own `timings` object
            extra JSON)"""
    )
    conn.execute("CREATE INDEX serve_requests_run ON serve_requests(run_id)")
    conn.execute(
        """CREATE TABLE serve_samples (
            run_id BIGINT NOT NULL,
            t_s DOUBLE NOT NULL,            -- seconds since the server was up
            rss_bytes BIGINT,
            gpu_bytes BIGINT,
            gpu_source VARCHAR)"""
    )
    conn.execute(
        """CREATE TABLE serve_memory (
            run_id BIGINT NOT NULL,
            n_ctx BIGINT NOT NULL,
            source VARCHAR NOT NULL,        -- server-log, llama-fit-params, vtt-plan, rss
            weights_bytes BIGINT,
            kv_bytes BIGINT,
            compute_bytes BIGINT,
            output_bytes BIGINT,
            total_bytes BIGINT,
            detail JSON)"""
    )
    conn.execute(
        """CREATE TABLE serve_probes (
            run_id BIGINT NOT NULL,
            n_ctx BIGINT NOT NULL,
            outcome VARCHAR NOT NULL,       -- ok, alloc_error, load_failed, timeout, request_failed
            seconds DOUBLE,
            detail JSON)"""
    )
    conn.execute(
        """CREATE TABLE serve_summaries (
            run_id BIGINT NOT NULL,
            kind VARCHAR NOT NULL,          -- soak, load, quality, stress
            created_at TIMESTAMP,
            verdict VARCHAR,
            summary JSON)"""
    )


@migration("0003_run_owner")
def add_run_owner(conn) -> None:
    """Which process owns a 'running' run (pid, its start time, host), so a run left 'running'
    by a process that died is found and marked interrupted, and two resumers cannot share one."""
    conn.execute("ALTER TABLE runs ADD COLUMN owner_pid BIGINT")
    conn.execute("ALTER TABLE runs ADD COLUMN owner_start BIGINT")
    conn.execute("ALTER TABLE runs ADD COLUMN owner_host VARCHAR")
