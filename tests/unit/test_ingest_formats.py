"""Ingest: every llama-bench output format and the community CSV read into the same fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtt import store
from vtt.errors import BadQuery
from vtt.harness.ingest import ingest_files, parse_test, parse_tps, read_bench_file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "llama_bench"


@pytest.mark.parametrize("name, fmt, n", [("cpu_pp64_tg16.jsonl", "jsonl", 2), ("cpu_depth.json", "json", 4),
                                          ("cpu.csv", "csv", 2), ("cpu.sql", "sql", 2), ("cpu_depth.md", "md", 4)])
def test_each_llama_bench_format_gives_tests_and_speeds(name, fmt, n):
    got_fmt, records = read_bench_file(FIXTURES / name)
    assert got_fmt == fmt and len(records) == n
    assert all(float(r["avg_ts"]) > 0 for r in records)
    assert {int(r["n_prompt"]) for r in records} == {0, 64}


def test_markdown_cells_are_split_into_fields():
    _, records = read_bench_file(FIXTURES / "cpu_depth.md")
    deep = records[2]
    assert (deep["n_prompt"], deep["n_gen"], deep["n_depth"]) == (64, 0, 128)
    assert deep["stddev_ts"] > 0 and deep["build_commit"] == "0c1e570" and deep["build_number"] == 1
    assert deep["model_size"] == pytest.approx(37.02 * 2**20, rel=1e-3)


def test_a_markdown_table_pasted_without_its_separator_line_keeps_every_row():
    from vtt.harness.ingest import read_markdown

    table = ("| model | size | params | backend | ngl | test | t/s |\n"
             "| llama 8B Q4_0 | 4.33 GiB | 8.03 B | Vulkan | 99 | pp512 | 900.10 ± 2.00 |\n"
             "| llama 8B Q4_0 | 4.33 GiB | 8.03 B | Vulkan | 99 | tg128 | 40.50 ± 0.10 |\nbuild: f1fbffb5 (6486)\n")
    rows = read_markdown(table)
    assert [(r["n_prompt"], r["n_gen"], r["avg_ts"]) for r in rows] == [(512, 0, 900.1), (0, 128, 40.5)]
    sep = table.replace("|\n| llama", "|\n|---|---:|---:|---|--:|---:|---:|\n| llama", 1)
    assert [r["avg_ts"] for r in read_markdown(sep)] == [900.1, 40.5] and rows[0]["build_number"] == 6486


def test_test_names_and_tps_cells():
    assert parse_test("pp512+tg128") == {"n_prompt": 512, "n_gen": 128, "n_depth": 0}
    assert parse_test("tg32 @ d32768") == {"n_prompt": 0, "n_gen": 32, "n_depth": 32768}
    assert parse_tps("1234.5 ± 6.7") == (1234.5, 6.7)


def test_community_csv_keeps_unknown_columns_and_reads_defaults(tmp_path):
    with store.open_store(tmp_path / "v.duckdb") as s:
        pass
    ingest_files([FIXTURES / "strix_halo_sample.csv"], db=tmp_path / "v.duckdb", hardware="strix-halo")
    with store.open_store(tmp_path / "v.duckdb", read_only=True) as s:
        rows = store.results(s)
    pp = rows[0]
    assert (pp["n_prompt"], pp["n_ubatch"], pp["flash_attn"], pp["build_number"]) == (512, 512, 1, 9193)
    assert pp["avg_ts"] == pytest.approx(336.69) and pp["stddev_ts"] == pytest.approx(1.88)
    assert pp["extra"]["source_url"].startswith("https://github.com/kyuz0")
    assert pp["hardware"] == "strix-halo"


def test_old_build_fields_are_kept_by_name(tmp_path):
    ingest_files([FIXTURES / "old_build_use_mmap.jsonl"], db=tmp_path / "v.duckdb")
    with store.open_store(tmp_path / "v.duckdb", read_only=True) as s:
        rows = store.results(s)
    assert rows[0]["use_mmap"] is True and rows[0]["load_mode"] is None and rows[0]["samples_ns"] == []


def test_ingesting_the_same_files_twice_adds_nothing(tmp_path):
    files = sorted(FIXTURES.iterdir())
    first = ingest_files(files, db=tmp_path / "v.duckdb")
    second = ingest_files(files, db=tmp_path / "v.duckdb")
    assert sum(f["added"] for f in first) > 0 and sum(f["added"] for f in second) == 0
    assert all(f["run_id"] is None for f in second)


def test_a_file_without_results_is_bad_input_naming_the_file(tmp_path):
    bad = tmp_path / "empty.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(BadQuery, match=r"empty.jsonl: line 1: not JSON"):
        read_bench_file(bad)
