"""Which flash-attention kernel llama.cpp runs for a prompt, and how fast each one is relative to the
backend's main kernel. Pure functions over the backend's declared device facts (specs/backends/).

Read in the pinned llama.cpp (llama_cpp_python 0.3.36, vendor/llama.cpp):

Vulkan, ggml/src/ggml-vulkan/ggml-vulkan.cpp
  get_fa_tuning_params (l.1330-1368): coopmat2 where the device has NV_cooperative_matrix2 (NVIDIA
  only), else coopmat1 where KHR_cooperative_matrix is usable with full subgroups
  (coopmat1_fa_support, l.4532) and the coopmat1 tile fits shared memory, else the scalar shader.
  ggml_vk_flash_attn_coopmat_shmem_support (l.7975-8020) sizes the coopmat1 tile; with
  get_fa_tuning_params_coopmat1 (l.1263-1293: Br 16 rows, Bc 64 columns, 4 subgroups, no staging
  on AMD) its Q tile alone is Br x (hsk/4 + 2) x 8 bytes: 34,160 bytes at hsk 512, over AMDVLK's
  32 KB, inside RADV's 64 KB.
HIP/CUDA, ggml/src/ggml-cuda/fattn.cu ggml_cuda_get_best_fattn_kernel (l.541-719):
  AMD WMMA (the MMA_F16 kernel) only where gqa_opt_applies (GQA >= 2, l.561) and head width
  Q->ne[0] <= 256 (l.700-703); otherwise, for a prompt, the tile kernel (fattn-tile.cuh, l.719).
  NVIDIA Turing+ runs MMA_F16 for every prompt shape (l.650-664).
"""

from __future__ import annotations

import numpy as np

# Kernel paths. The first path a backend takes for an ordinary GQA model (head width <= 256) is its
# reference: attn_pp_eff is that kernel's share of FP16 peak; every other path has a relative
# efficiency fa_eff_<path>, fitted where rows run it and otherwise its physics default.
PATHS = ("coopmat2", "coopmat1", "scalar", "mma", "tile", "cpu", "vec")

# Q rows one workgroup holds while it streams a KV block: each tile reads its KV head once, so a
# prompt of n tokens reads each KV head n x gqa / rows times (packing gqa heads into a tile, as
# both backends do, changes which rows share a tile, not how many tiles there are).
#   coopmat1: Br = 16 (get_fa_tuning_params_coopmat1, l.1272); coopmat2: 64, 32 at width >= 512
#   (l.1313-1318); scalar: 8 for n_rows > 8 with row_split 4 (l.1230-1236); HIP/CUDA MMA: 64
#   columns (fattn-mma-f16.cuh ncols); tile: 32 (fattn-tile.cuh, nbatch_fa-era default tiles).
#   vec (a prompt on HIP's decode kernel, 2025 AMD builds without rocWMMA): 8 columns per block, its
#   largest cols_per_block (fattn-vec-f16.cuh launch of that era).
Q_ROWS = {"coopmat2": 64.0, "coopmat1": 16.0, "scalar": 8.0, "mma": 64.0, "tile": 32.0, "cpu": 64.0, "vec": 8.0}


# KV cells per block (Bc) a Vulkan FA workgroup steps through: coopmat1 64 (16 x 4 subgroups,
# get_fa_tuning_params_coopmat1 l.1285-1289), scalar 32 for prompt rows with an even head width
# (block_cols, l.1240), coopmat2 32-64 (l.1313-1320).
KV_BLOCK = {"coopmat2": 64.0, "coopmat1": 64.0, "scalar": 32.0}


def swa_fa_cells(api: str, path: str, swa_cells, swa_window) -> np.ndarray:
    """KV cells per query a sliding-window layer's flash attention computes and reads.

    llama.cpp gives a sliding layer a KV view of pad(n_swa + n_ubatch, 256) cells (src/llama-kv-cache-iswa.cpp
    size_swa; llama_kv_cache::get_n_kv pads to 256) whose mask hides every cell outside the window.
    Vulkan skips each Bc-block whose mask is all -inf before it touches K or V
    (vulkan-shaders/flash_attn_cm1.comp l.161-168 with mask_opt, l.224-232 after loading the mask;
    flash_attn.comp l.207-243), so a tile of Br query rows computes the window + Br - 1 cells rounded
    out to blocks: about n_swa + Br + Bc. HIP/CUDA only trim the trailing masked blocks
    (fattn-common.cuh flash_attn_mask_to_KV_max, l.671-723: the last unmasked block per tile), so a
    sliding layer there computes the whole view, as does a backend vtt does not know."""
    swa_cells = np.asarray(swa_cells, dtype=float)
    if api != "vulkan" or path not in KV_BLOCK:
        return swa_cells
    return np.minimum(swa_cells, float(swa_window) + Q_ROWS[path] + KV_BLOCK[path])


def coopmat1_shmem_bytes(hsk, f32acc: bool = True) -> np.ndarray:
    """Shared memory the coopmat1 FA shader needs (ggml_vk_flash_attn_coopmat_shmem_support, no
    shmem staging: AMD), Br 16, Bc 64, row_split 4 (get_fa_tuning_params_coopmat1)."""
    hsk = np.asarray(hsk, dtype=float)
    br, bc, mat = 16.0, 64.0, 16.0
    row_split = bc / mat
    hsk_pad = np.ceil(hsk / 16.0) * 16.0
    acc = 4.0 if f32acc else 2.0
    tmpsh = (bc / mat) * 4.0
    iq_shmem = 16 * 2.0
    qf = br * (hsk_pad / 4 + 2) * 8.0
    psh = bc * (br / 4 + 2) * 8.0
    sfsh = bc * np.where(hsk <= 128, br + 8, br) * acc
    ksh = bc * max(mat / 4 + 2, mat / 4 * row_split) * 8.0
    pvsh = mat * (4 * mat / 4) * 8.0
    slope = br * acc
    return tmpsh + iq_shmem + qf + psh + sfsh + ksh + pvsh + slope


def fa_path(api: str, device: dict | None, head_k, gqa) -> np.ndarray:
    """The FA kernel path of a prompt-processing ubatch, per query (array of path names)."""
    head_k = np.atleast_1d(np.asarray(head_k, dtype=float))
    n = len(head_k)
    dev = device or {}
    if api == "vulkan":
        if dev.get("coopmat") == "nv2":
            return np.full(n, "coopmat2", dtype=object)
        if dev.get("coopmat") == "khr":
            fits = coopmat1_shmem_bytes(head_k) <= float(dev.get("shared_mem_bytes", 32768))
            return np.where(fits, "coopmat1", "scalar").astype(object)
        return np.full(n, "scalar", dtype=object)
    if api in ("rocm", "cuda"):
        cores = dev.get("matrix_cores", "none")
        if cores == "mma":  # NVIDIA Turing+: MMA for every prompt shape
            return np.full(n, "mma", dtype=object)
        gqa = np.broadcast_to(np.asarray(gqa, dtype=float), (n,))
        if cores in ("wmma", "mfma"):
            wmma = (gqa >= 2) & (head_k <= 256) & (head_k != 40) & (head_k != 72)
            return np.where(wmma, "mma", "tile").astype(object)
        return np.full(n, "tile", dtype=object)
    return np.full(n, "cpu", dtype=object)


# llama.cpp's own WMMA kernels reached RDNA3 between the public 2025 rows (b6609 and older) and the
# 2026 ones (b7938 on): MMQ for a prompt's quantized GEMMs (PR #17576, Dec 2025; vtt.cost.gemm) and
# flash attention without the rocWMMA library. vtt.calibrate.rows' era split, b7000, stands for both.
# Before, ggml_cuda_flash_attn_ext on AMD ran the rocWMMA kernel (fattn-wmma-f16.cu) when built with
# GGML_HIP_ROCWMMA_FATTN (PR #12032; off by default) and fp16_mma_available, and otherwise, for every
# batch, the vec kernel ("On AMD the tile kernels perform poorly, use the vec kernel instead"): a
# decode kernel on the vector ALUs, 8 query columns a block. lhl's 2025 rows toggle it (same build,
# hipBLASLt on): llama-2-7b Q4_0 pp512 -fa 1 at 1,092 t/s with rocWMMA, 660 without; -fa 0 975 both.
HIP_RDNA3_WMMA_BUILD = 7000


def hip_rdna3_before_wmma(api: str, device: dict | None, build) -> np.ndarray:
    """Per query: a HIP build on RDNA3 (WMMA) older than HIP_RDNA3_WMMA_BUILD (None: the newest)."""
    if api != "rocm" or (device or {}).get("matrix_cores") != "wmma":
        return np.zeros(len(build), dtype=bool)
    return np.array([b is not None and 0 < int(b) < HIP_RDNA3_WMMA_BUILD for b in build], dtype=bool)


def fa_path_before_wmma(paths, old, rocwmma) -> np.ndarray:
    """PATHS indices of a prompt's FA kernel where builds before HIP_RDNA3_WMMA_BUILD differ: the
    rocWMMA kernel ('mma') if the build had GGML_HIP_ROCWMMA_FATTN, else 'vec' (None: not built)."""
    wm = np.array([r is True for r in rocwmma], dtype=bool)
    old_path = np.where(wm, PATHS.index("mma"), PATHS.index("vec"))
    return np.where(old, old_path, np.asarray(paths, dtype=int))


def decode_vec(api: str, device: dict | None, head_k, gqa, kv_quantized) -> np.ndarray:
    """Per query: does a decoded token (one query row) run HIP's vec kernel (fattn-vec.cuh)?

    ggml_cuda_get_best_fattn_kernel (pinned fattn.cu, l.541-719) on AMD RDNA: gqa_opt_applies needs
    GQA >= 2 (l.561); WMMA (MMA_F16) where gqa_opt_applies, head width <= 256 and the packed GQA
    columns (the largest power of two dividing GQA, at most 8: ncols2_max, l.667-671) exceed 8
    (width <= 128) or 16 (l.699-703); else the vec kernel for F16 K/V only without gqa_opt (l.705-711:
    MHA), for quantized K/V always (l.713-715); else the tile kernel with GQA packing (l.719).
    So on gfx1151 MHA decodes on the vec kernel and every GQA >= 2 model of the public rows on the
    tile kernel. The vec kernel runs one block of 128 threads per (query head, KV chunk)
    (__launch_bounds__(128, 1), fattn-vec.cuh l.20) and K then V serially per 128-row step.
    Only AMD HIP is modelled (the MFMA (CDNA) branch and NVIDIA's choose differently): False elsewhere."""
    head_k = np.atleast_1d(np.asarray(head_k, dtype=float))
    n = len(head_k)
    if api != "rocm":
        return np.zeros(n, dtype=bool)
    gqa = np.broadcast_to(np.asarray(gqa, dtype=float), (n,))
    quant = np.broadcast_to(np.asarray(kv_quantized, dtype=bool), (n,))
    can_vec = (head_k <= 256) & (head_k % 64 == 0)
    gqa_opt = gqa >= 2
    g = np.maximum(np.round(gqa), 1).astype(int)
    packed = np.minimum(g & -g, 8)  # largest power of two dividing GQA, capped at ncols2_max
    wmma = ((device or {}).get("matrix_cores") == "wmma") & gqa_opt & (head_k <= 256) \
        & (packed > np.where(head_k <= 128, 8, 16))
    return can_vec & ~wmma & (quant | ~gqa_opt)


def reference_path(api: str, device: dict | None) -> str:
    """The path an ordinary GQA model (head width 128, GQA 8) runs: efficiency 1 by definition."""
    return str(fa_path(api, device, [128.0], [8.0])[0])


def path_index(paths) -> np.ndarray:
    return np.array([PATHS.index(p) for p in paths], dtype=int)


def path_eff(params: dict, defaults: dict, path_idx, ref_idx, head_width) -> np.ndarray:
    """Attention prefill rate relative to the reference path at head width 128:
    fa_eff_<path> x law ^ log2(width / 128), law = fa_hw2 on the reference path, fa_hw2_fb on a
    fallback. The law is the rate change per doubling of the head width within one kernel (more
    FLOPs per K/V load, fewer Q rows per register file). Vectorised over queries."""
    def p(k):
        return float(params.get(k, defaults[k]))

    path_idx = np.asarray(path_idx, dtype=int)
    is_ref = path_idx == np.asarray(ref_idx, dtype=int)
    rel = np.array([1.0 if f"fa_eff_{x}" not in defaults else p(f"fa_eff_{x}") for x in PATHS])[path_idx]
    law = np.where(is_ref, p("fa_hw2"), p("fa_hw2_fb"))
    hw = np.maximum(np.asarray(head_width, dtype=float), 1.0)
    return np.where(is_ref, 1.0, rel) * law ** np.log2(hw / 128.0)


def q_rows(path_idx) -> np.ndarray:
    """Q rows per FA tile of each query's path (Q_ROWS)."""
    return np.array([Q_ROWS[x] for x in PATHS])[np.asarray(path_idx, dtype=int)]


def attention_geometry(arch) -> tuple[int, int, int, int]:
    """(K width, V width, query heads, KV heads) of the full layers' FLASH_ATTN_EXT as llama.cpp builds it:
    MLA attends the cached latent (kv_lora_rank + rope wide K, one KV head shared by every query head)."""
    return (int(arch.head_dim_k), int(arch.head_dim_v), int(arch.n_head), 1 if arch.mla else int(arch.n_head_kv))


ATTENTION_KINDS = ("MHA", "GQA", "MLA", "wide-head", "SWA/hybrid")


def attention_kind(arch) -> str:
    """One label per architecture for folds and coverage cells: MLA > wide-head (a head width >= 512,
    where kernels change path) > SWA/hybrid (sliding or recurrent layers) > MHA (GQA 1) > GQA."""
    from vtt.specs.model_arch import MIXER_RECURRENT, MIXER_SWA

    if arch.mla:
        return "MLA"
    if max(arch.head_dim_k, arch.head_dim_v, arch.head_dim_q or 0) >= 512:
        return "wide-head"
    if MIXER_SWA in arch.mixers or MIXER_RECURRENT in arch.mixers:
        return "SWA/hybrid"
    if arch.n_head_kv >= arch.n_head:
        return "MHA"
    return "GQA"
