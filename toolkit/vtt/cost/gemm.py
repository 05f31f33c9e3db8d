"""Which library runs a prompt's dense matmuls on HIP, as llama.cpp dispatches them, and whether
rocBLAS had hipBLASLt (ROCBLAS_USE_HIPBLASLT).

Before llama.cpp PR #17576 (HIP: enable WMMA-MMQ INT kernels for RDNA 3, Dec 2025) the HIP backend
ran a quantized MUL_MAT of 64 rows or more on RDNA3 (gfx11: WMMA, no MFMA) as dequantize-to-F16 +
hipBLAS GEMM: `ggml_cuda_should_use_mmq` ended in `return (!RDNA4 && !RDNA3 && !CDNA) || ne11 <
MMQ_DP4A_MAX_BATCH_SIZE` (64); F16 / BF16 weights always take hipBLAS. rocBLAS then runs its own
Tensile kernels unless ROCBLAS_USE_HIPBLASLT=1 hands the GEMM to hipBLASLt, and on gfx1151 in 2025
Tensile was 3-5x slower: lhl's 2025 rows (the shared CSV's `hip` rows, same build, toolbox and
model, only the variable toggled) run llama-2-7b Q4_0 pp512 at 322 vs 975 t/s, Qwen3-32B Q8_0 at
49 vs 226. lhl names the variable where it was set; a row without it ran rocBLAS's default, Tensile:
those rows are the slow ones.
Routed experts (MUL_MAT_ID) were multiplied per expert at that expert's row count (Qwen3-30B-A3B at
-ub 512: 32 rows, under 64): MMQ, whatever rocBLAS had. Qwen3-30B-A3B's pp512 moves 1.4x with the
variable, dense models 3-5x, so only the dense matmuls (attention, dense and shared FFNs, recurrent
projections) are charged.
Since then (PRs #17576, #18537, #18666; the pinned mmq.cu l.407-430) RDNA3.5 runs MMQ for every
quantized type but Q2_K past 128 rows and Q6_K past 256, and the 2026 rows (b7938 on) with and
without hipBLASLt agree: pp ratio median 1.00 over 54 pairs, 48 within 5 %, BF16 included (0.88-1.05;
one Q3_K_S pair at 32K 1.30): no term there. The PR's build number
was not found; the public rows bracket it (b6609 and older show the effect, b7938 and newer do not),
and vtt.calibrate.rows' era split, b7000, stands for it (vtt.cost.attention.HIP_RDNA3_WMMA_BUILD).
"""

from __future__ import annotations

import numpy as np

MMQ_MAX_ROWS = 64  # MMQ_DP4A_MAX_BATCH_SIZE: older RDNA3 builds ran fewer rows than this on MMQ
# Not known whether the variable was set (a query without --hipblaslt / --no-hipblaslt, a log that does
# not say): the two answers are 3-5x apart, so vtt answers halfway between them in log space (their
# geometric mean, vtt.cost.throughput.prefill_time_s) and widens the interval to reach both
# (vtt.cost.coverage.config_sd).
UNKNOWN_SHARE = 0.5


def tensile_share(old, hipblaslt, ub_tokens) -> np.ndarray:
    """Per query, the share of a prompt's dense matmul time on rocBLAS's Tensile kernels: `old`
    (vtt.cost.attention.hip_rdna3_before_wmma: HIP on RDNA3 before the WMMA-MMQ switch) and ubatches
    of 64 rows or more; then 1 without hipBLASLt (False), 0 with it (True), UNKNOWN_SHARE if None."""
    lt = np.array([0.0 if h is True else 1.0 if h is False else UNKNOWN_SHARE for h in hipblaslt])
    return np.where(np.asarray(old, dtype=bool) & (np.asarray(ub_tokens, dtype=float) >= MMQ_MAX_ROWS), lt, 0.0)
