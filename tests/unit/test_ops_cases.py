"""test-backend-ops case files and SQL output, without running it."""

from vtt.harness.ops import case_of, flash_attn, mul_mat, mul_mat_id_builtin, op_cases, parse_sql_line

LINE = ("INSERT INTO test_backend_ops (test_time, build_commit, backend_name, op_name, op_params, test_mode, supported, "
        "passed, error_message, time_us, flops, bandwidth_gb_s, memory_kb, n_runs, device_description, backend_reg_name) "
        "VALUES ('2026-11-30T19:37:59Z', '0c1e570-dirty', 'CPU', 'MUL_MAT', 'name=mm_q4_0_m4096_n32_k4096,type=f32,"
        "ne=[4096,32,1,1],op_params=[],sources=q4_0[4096,4096,1,1],f32[4096,32,1,1]', 'perf', '1', '1', '', "
        "'18694.302439', '0.000000', '0.522385', '10240', '820', '', '');")


def test_sql_row_parses_and_finds_its_case():
    row = parse_sql_line(LINE)
    assert row["time_us"] == 18694.302439 and row["n_runs"] == 820 and row["supported"] == 1
    c = mul_mat("q4_0", 4096, 32, 4096)
    assert case_of(row, [mul_mat("q4_0", 4096, 1, 4096), c]) is c
    assert parse_sql_line("CREATE TABLE x (a TEXT);") is None


def test_generic_op_lines_carry_the_shape():
    # op 29 (MUL_MAT), out f32 [m, n], src a q4_0 [k, m], src b f32 [k, n]
    assert mul_mat("q4_0", 64, 8, 32).file_line() == "29 0 64 8 1 1 0 2 2 32 64 1 1 0 0 0 0 0 32 8 1 1 0 0 0 0 mm_q4_0_m64_n8_k32"
    fa = flash_attn(576, 512, 20, 1, 512, 4096)
    parts = fa.file_line().split()
    assert parts[:6] == ["74", "0", "512", "20", "512", "1"]  # result [D_v, H, n_q]
    assert fa.flops() == 2.0 * 20 * 512 * 4096 * (576 + 512)


def test_builtin_case_matches_only_its_own_params():
    c = mul_mat_id_builtin("q4_0", 128, 8, 768, 512, 2048)
    row = {"op_name": "MUL_MAT_ID", "op_params": "type_a=q4_0,type_b=f32,n_mats=128,n_used=8,b=0,m=768,n=512,k=2048,amax=1"}
    assert case_of(row, [c]) is c
    row["op_params"] = row["op_params"].replace("n=512", "n=5120")
    assert case_of(row, [c]) is None


def test_profiles_cover_the_three_ops_and_catalog_head_widths():
    quick = op_cases("quick")
    assert {c.op for c in quick} == {"MUL_MAT", "MUL_MAT_ID", "FLASH_ATTN_EXT"}
    widths = {c.dims["d_k"] for c in op_cases("catalog") if c.op == "FLASH_ATTN_EXT"}
    assert {128, 256, 576} <= widths
