"""Rows of builds that are not llama.cpp's own (forks, draft PRs: vtt.calibrate.rows.VARIANTS) are
named and kept out of the calibrations of llama.cpp, by both readers of the public CSV."""

import pytest

from vtt.calibrate.rows import csv_rows, select_rows, variant_of
from vtt.resources import calibration_csv


@pytest.mark.parametrize("detail,fork", [
    ("llama-vulkan-radv-performance", True),
    ("llama-rocm-7.14-pr26592", True),
    ("kyuz0 rocm-7.14-performance toolbox", True),
    ("llama-vulkan-radv", False),
    ("llama-rocm-7.14", False),
    ("Mesa RADV (vulkan-radv toolbox)", False),
    (None, False),
])
def test_backend_detail_names_the_build(detail, fork):
    assert (variant_of(detail) is not None) is fork


def test_fork_rows_are_not_fitted_unless_asked(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("backend,llama_cpp_build,source_date,model,n_prompt,n_gen,n_depth,pp_tps,tg_tps,n_ubatch,quant,"
                 "backend_detail\n"
                 "vulkan-radv,b10269 (1c),2026-08-05,Qwen3.6-27B-UD-Q8_K_XL,2048,0,65536,68.58,,256,UD-Q8_K_XL,"
                 "llama-vulkan-radv\n"
                 "vulkan-radv,b10249 (aa),2026-08-04,Qwen3.6-27B-UD-Q8_K_XL,2048,0,65536,136.33,,256,UD-Q8_K_XL,"
                 "llama-vulkan-radv-performance\n")
    rows = csv_rows(p)
    assert [r["variant"] is None for r in rows] == [True, False]
    assert [r["pp_tps"] for r in select_rows(rows, "vulkan-radv")] == ["68.58"]
    assert len(select_rows(rows, "vulkan-radv", variants=True)) == 2


def test_both_readers_name_the_same_rows(tmp_path):
    """make_calibrations fits from the CSV ingested into DuckDB (store_rows), the folds from csv_rows."""
    from vtt.calibrate.pipeline import load_rows
    from vtt.harness.ingest import ingest_files

    db = tmp_path / "c.duckdb"
    ingest_files([str(calibration_csv())], db=db, label="csv", hardware="strix-halo-128")
    want = sorted(r["variant"] or "" for r in csv_rows(calibration_csv()))
    got = sorted(r["variant"] or "" for r in load_rows(db=str(db)))
    assert got == want and sum(bool(v) for v in got) >= 100
