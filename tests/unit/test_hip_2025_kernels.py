"""Older HIP builds on RDNA3 (vtt.cost.gemm, vtt.cost.attention): a prompt's dense GEMMs on rocBLAS,
whose Tensile kernels without hipBLASLt are far slower, and flash attention on rocWMMA or the vec kernel.
The settings come from the rows (backend detail, the harness's recorded environment) and the query."""

import math

import numpy as np
import pytest

from vtt.calibrate.rows import csv_rows, hipblaslt_of, rocwmma_of, store_rows
from vtt.cost import attention, gemm
from vtt.harness.fingerprint import collect_fingerprint, kernel_env
from vtt.plan import plan
from vtt.resources import calibration_csv


@pytest.mark.parametrize("detail,lt,wmma", [
    ("HIP/ROCm (TheRock ROCm 7 nightly) build; ROCBLAS_USE_HIPBLASLT=1", True, None),
    ("ROCm 7.2 toolbox; hipBLASLt OFF (ROCBLAS_USE_HIPBLASLT=0)", False, None),
    ("ROCm 6.4.4 toolbox; hipBLASLt toolbox default (ROCm 7 images ship ROCBLAS_USE_HIPBLASLT=1)", True, None),
    ("HIP/ROCm build with rocWMMA flash-attention (GGML_HIP_ROCWMMA_FATTN)", None, True),
    ("llama-rocm-7.2.4", None, None),
    (None, None, None),
])
def test_backend_detail_states_the_settings(detail, lt, wmma):
    assert hipblaslt_of(detail) is lt
    assert rocwmma_of(detail) is wmma


def test_lhl_hip_rows_without_the_variable_ran_without_it():
    # lhl names ROCBLAS_USE_HIPBLASLT=1 where it was set: every `hip` row is True or False, never unknown
    hip = [r for r in csv_rows(calibration_csv()) if r["csv_backend"] == "hip"]
    assert hip and {r["hipblaslt"] for r in hip} == {True, False}
    assert sum(r["hipblaslt"] is False for r in hip) > 50


def test_harness_records_the_kernel_environment(monkeypatch):
    monkeypatch.delenv("ROCBLAS_USE_HIPBLASLT", raising=False)
    assert "ROCBLAS_USE_HIPBLASLT" not in kernel_env()
    assert kernel_env({"ROCBLAS_USE_HIPBLASLT": "0"}) == {"ROCBLAS_USE_HIPBLASLT": "0"}
    assert collect_fingerprint(env={"ROCBLAS_USE_HIPBLASLT": "1"})["kernel_env"] == {"ROCBLAS_USE_HIPBLASLT": "1"}
    # a stored row carries it back to the fit
    base = {"model_filename": "m.gguf", "n_prompt": 512, "n_gen": 0, "avg_ts": 100.0, "build_number": 6000}
    on, off, unsaid = store_rows([{**base, "extra": {"kernel_env": {"ROCBLAS_USE_HIPBLASLT": "1"}}},
                                  {**base, "extra": {"kernel_env": {"ROCBLAS_USE_HIPBLASLT": "0"}}},
                                  {**base, "extra": {}}])
    assert (on["hipblaslt"], off["hipblaslt"], unsaid["hipblaslt"]) == (True, False, None)


def test_tensile_share_only_for_old_rdna3_builds_and_full_ubatches():
    old = attention.hip_rdna3_before_wmma("rocm", {"matrix_cores": "wmma"}, [6000, 6000, 6000, 9000, None, 6000])
    assert old.tolist() == [True, True, True, False, False, True]
    share = gemm.tensile_share(old, [False, True, None, False, False, False], [512, 512, 512, 512, 512, 32])
    assert share.tolist() == [1.0, 0.0, gemm.UNKNOWN_SHARE, 0.0, 0.0, 0.0]
    assert not attention.hip_rdna3_before_wmma("vulkan", {"coopmat": "khr"}, [6000]).any()
    assert not attention.hip_rdna3_before_wmma("rocm", {"matrix_cores": "mfma"}, [6000]).any()


def test_old_builds_run_flash_attention_on_rocwmma_or_the_vec_kernel():
    mma, tile = attention.PATHS.index("mma"), attention.PATHS.index("tile")
    got = attention.fa_path_before_wmma([mma, tile, mma], np.array([True, True, False]), [True, None, None])
    assert [attention.PATHS[i] for i in got] == ["mma", "vec", "mma"]


def pp(**kw):
    return plan({"model": "llama-2-7b", "quant": "Q4_0", "backend": "rocm", "n_gen": 0, **kw})


def test_plan_answers_each_setting_and_spans_both_when_not_told():
    on, off, unknown = pp(build=6077, hipblaslt=True), pp(build=6077, hipblaslt=False), pp(build=6077)
    assert on.pp_tps > 2 * off.pp_tps  # the 2025 rows: 975 vs 322 t/s for this file at -fa 0 / 660 vs 285 at -fa 1
    assert math.isclose(unknown.pp_tps, math.sqrt(on.pp_tps * off.pp_tps), rel_tol=0.02)
    lo, hi = unknown.pp_tps_interval
    assert lo <= off.pp_tps and hi >= on.pp_tps
    assert any("ROCBLAS_USE_HIPBLASLT" in w for w in unknown.warnings)
    assert not any("ROCBLAS_USE_HIPBLASLT" in w for w in on.warnings)
    assert on.to_json()["hipblaslt"] is True and "hipblaslt" not in unknown.to_json()


def test_rocwmma_speeds_flash_attention_of_old_builds_only():
    vec, wmma = pp(build=6077, hipblaslt=True), pp(build=6077, hipblaslt=True, rocwmma=True)
    assert wmma.pp_tps > 1.3 * vec.pp_tps  # measured 1,092 vs 660 t/s
    new = [pp(hipblaslt=h, rocwmma=w) for h, w in ((True, True), (False, None), (None, None))]
    assert len({a.pp_tps for a in new}) == 1  # the newest builds run MMQ and their own WMMA kernels


def test_ingested_rows_keep_the_settings_csv_rows_read(tmp_path):
    """make_calibrations fits from the CSV ingested into DuckDB (store_rows), the folds from csv_rows:
    both must read every HIP row's hipBLASLt and rocWMMA the same (the shipped 2025 file was once fitted
    with lhl's unnamed rows as unknown, and answered --no-hipblaslt 4x slow)."""
    from vtt.calibrate.pipeline import load_rows
    from vtt.harness.ingest import ingest_files

    db = tmp_path / "c.duckdb"
    ingest_files([str(calibration_csv())], db=db, label="csv", hardware="strix-halo-128")
    key = lambda r: (r["model"], r["build"], r["backend_detail"], int(r["n_prompt"]), int(r["n_gen"]),  # noqa: E731
                     int(float(r["flash_attn"])))
    want = {key(r): (r["hipblaslt"], r["rocwmma"]) for r in csv_rows(calibration_csv()) if r["era"] == "2025"
            and r["backend"] == "rocm"}
    got = {key(r): (r["hipblaslt"], r["rocwmma"]) for r in load_rows(db=str(db)) if r["era"] == "2025"
           and r["backend"] == "rocm"}
    assert got == want and sum(v == (False, None) for v in got.values()) > 50


def test_the_shipped_2025_file_answers_each_setting_near_its_rows():
    # lhl's b6077 rows, llama-2-7b Q4_0 pp512 -fa 0: 975 t/s with hipBLASLt, 322 without
    on, off = (plan({"model": "llama-2-7b", "quant": "Q4_0", "backend": "rocm", "build": 6077, "n_gen": 0,
                     "flash_attn": False, "hipblaslt": h}).pp_tps for h in (True, False))
    assert 975 / 1.5 < on < 975 * 1.5 and 322 / 1.5 < off < 322 * 1.5
