"""Which inputs of a prediction lie outside the rows its calibration was fitted on, and how much wider
the interval must be for them. Pure: no I/O.

A calibration stores the cells its rows cover (`coverage_cells`, written by vtt.calibrate.fit): one
per (test, FA kernel path, head width, GQA, attention kind, depth band) with a row count, and its
llama.cpp build range. A query whose kernel path, attention kind, head width, depth band or build
has no such cell is extrapolated. The parameters that only rows of that cell could inform are then
unidentified: their prior spread (log-normal, PRIOR_SD_LOG) is pushed through the prediction's
Jacobian (the delta method, as for the fitted covariance), so the interval widens by what those
parameters do to this query, not by a flat factor: an attention-bound query at depth widens a lot,
a weight-bound one at depth 0 hardly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from vtt.cost import attention, throughput

Z90 = 1.6448536269514722  # two-sided 90 % interval (predict.py uses it too)

DEPTH_BANDS = ("d=0", "0<d<=8K", "8K<d<=32K", "d>32K")

# Log-space prior sd of a parameter the rows did not identify for this query. fa_eff_<path>: a
# fallback kernel's rate is known to within ~2x (the fitted ROCm tile path: 0.52 of WMMA).
# fa_hw2 / fa_hw2_fb: per doubling of head width, the rate moves by up to ~1.4x. The attention
# terms of an unmeasured kind or depth band: the public rows of unmeasured kinds (MLA, 512-wide
# heads) were off by 30-70 % (issue 9), log 1.5-1.7.
PRIOR_SD_LOG: dict[str, float] = {"fa_eff_scalar": 0.7, "fa_eff_tile": 0.7, "fa_hw2": 0.35, "fa_hw2_fb": 0.35,
                                  "attn_pp_eff": 0.5, "kv_tile_reuse": 0.5, "kv_eff": 0.3, "attn_dec_eff": 0.5,
                                  "kv_gqa": 1.0, "t_rec_layer_us": 0.7, "state_rw": 0.5, "rec_pp_eff": 0.7,
                                  # HIP's vec decode kernel against its tile kernel: another kernel, known
                                  # to within ~2x like fa_eff_<path> (fitted on all ROCm rows: 1.9)
                                  "kv_vec": 0.7,
                                  # A weight family with no rows: its prefill GEMM rate relative to K-quants
                                  # spans 0.22-1.56x over the shipped calibrations' fitted families (log sd
                                  # ~0.5; BF16 0.14-0.34x where the driver has no bf16 math); its decode
                                  # mat-vec rate 0.79-1.22x (log sd ~0.15)
                                  **{f"ce_{x}": 0.5 for x in throughput.FAMILIES}, "ce_bf16": 1.0,
                                  **{f"dq_{x}": 0.2 for x in throughput.FAMILIES}, "dq_bf16": 0.5}
# What an unmeasured attention kind or depth band leaves unidentified, per test. kv_gqa: decode KV
# reuse across the query heads of a KV head is fitted on the GQA ratios the rows have; HIP runs
# MHA decode on the one-row vec kernel and GQA on the tile kernel (fattn.cu l.704-719), so another
# kind's ratio is a different kernel (held-out MHA on ROCm: 64 % tg error).
KIND_PARAMS = {"pp": ("attn_pp_eff", "kv_tile_reuse"), "tg": ("kv_eff", "attn_dec_eff", "kv_gqa")}
# A prompt shorter than any prefill row (the calibrations' rows are pp512 and longer) runs other kernels:
# llama.cpp's mat-vec for a few tokens, part-empty GEMM tiles up to ~64, and on Vulkan an MoE's expert
# matmuls that read every expert below ~32 tokens for one model and only the routed ones for another.
# Measured on the H200 (validation/moe_short, 1-128 tokens): vtt off by -30 to +313 %, no term of the
# model fitted to that, so the interval widens by that measured spread (log sd 0.7: x3.2 at 90 %).
SHORT_PROMPT_TOKENS = 128
SHORT_PROMPT_SD_LOG = 0.7
# DeepSeek-V4's compressed attention (ModelArch.compressed): its caches are sized exactly, its attention
# FLOPs and KV reads follow llama.cpp's graph, but that graph has ~6x the operations per layer of an
# ordinary transformer (187 nodes per decoded layer of a tiny DeepSeek-V4 in the pinned llama.cpp,
# against Llama's 31: hyper-connection mixes, compressors, the indexer's top-k over every compressed
# entry and the mask built from it), which no parameter charges. Measured against vtt (predicted
# first): the H200 decoded 1.9-2.6x and prefilled 1.5-3.6x slower than it said (validation/h200_unseen,
# third run: log errors 0.43-1.29). The interval widens by that spread (log sd 0.7, set after that
# run) and the answer says why. The public Strix Halo ROCm rows (decode 1.3-2.0x slower, prefill
# 1.4-1.7x faster, validation/public_heldout) are inside it, but they were read before it was set.
COMPRESSED_SD_LOG = 0.7
COMPRESSED_WHY = ("compressed attention (DeepSeek-V4): ~6x the graph operations per layer of an ordinary "
                  "transformer, not charged; an H200 ran it 1.5-3.6x slower than vtt says")


def depth_band(depth: int) -> str:
    if depth == 0:
        return "d=0"
    if depth <= 8192:
        return "0<d<=8K"
    if depth <= 32768:
        return "8K<d<=32K"
    return "d>32K"


def band_sigma(sigma_log: dict, test: str, band: str, default: float = 0.3) -> float:
    """The residual log-sd of a `test` ('pp', 'tg') answer in depth `band`: the band's own where the
    calibration had enough held-out rows there, else the test's, but never below the deepest shallower
    band that has one. A deep answer carries the depth-0 weights' error and the attention term's on
    top: errors do not shrink with depth, and the test's sigma is mostly depth-0 rows."""
    own = sigma_log.get(f"{test}@{band}")
    if own is not None:
        return float(own)
    s0 = float(sigma_log.get(test, default))
    shallower = [float(sigma_log[k]) for b in DEPTH_BANDS[:DEPTH_BANDS.index(band)] if (k := f"{test}@{b}") in sigma_log]
    return max([s0] + shallower[-1:])


def coverage_cells(tests, paths, widths, gqas, kinds, depths) -> list[dict]:
    """The cells a set of rows covers, with row counts and the deepest row (-d) of each (stored in a
    calibration). The last depth band is open-ended, so its deepest row is what bounds it."""
    count: dict[tuple, int] = {}
    deepest: dict[tuple, int] = {}
    for t, p, w, g, kind, d in zip(tests, paths, widths, gqas, kinds, depths):
        k = (str(t), str(p), int(w), round(float(g), 2), str(kind), depth_band(int(d)))
        count[k] = count.get(k, 0) + 1
        deepest[k] = max(deepest.get(k, 0), int(d))
    return [{"test": t, "path": p, "head_width": w, "gqa": g, "kind": k, "depth_band": d, "n": n,
             "max_depth": deepest[(t, p, w, g, k, d)]}
            for (t, p, w, g, k, d), n in sorted(count.items())]


def deepest_row(cells: list[dict], test: str, kind: str) -> int | None:
    """The deepest -d of a calibration's rows of this test and attention kind (None: cells written
    before they carried it, or no such rows)."""
    ds = [c["max_depth"] for c in cells if c["test"] == test and c["kind"] == kind and "max_depth" in c]
    return max(ds) if ds else None


def _decodes_vec(f: throughput.SpeedFeatures, j: int, swa_used: bool) -> bool:
    """Query j's decode attention runs HIP's vec kernel in some layer group (flash attention on)."""
    if f.dec_vec_full is None or not bool(f.flash_attn[j]):
        return False
    return bool(f.dec_vec_full[j] > 0 or (swa_used and f.dec_vec_swa is not None and f.dec_vec_swa[j] > 0))


def _build_range(text: str | None) -> tuple[int, int] | None:
    # build numbers only ('b7938 .. b9193', as vtt.calibration.parse_build_range reads them): the digits
    # inside a commit id ('commit 0c1e570') are no build
    nums = [int(x) for x in re.findall(r"\bb(\d+)\b", text or "") if int(x) > 1]
    return (min(nums), max(nums)) if nums else None


@dataclass
class Extrapolation:
    extrapolated: np.ndarray  # bool per query
    inputs: list[list[str]]  # per query: the inputs outside the data
    sd_pp: np.ndarray  # extra log-sd per query, to combine in quadrature
    sd_tg: np.ndarray

    def warning(self, j: int) -> str | None:
        if not self.inputs[j]:
            return None
        widened = self.sd_pp[j] > 0 or self.sd_tg[j] > 0
        return ("extrapolated: outside the calibration's rows: " + "; ".join(self.inputs[j])
                + (" (interval widened by the prior spread of what those rows would have fitted)" if widened
                   else " (interval: the calibration's spread on architectures its fit did not see)"))


def _jacobian_sd(fn, f, params: dict, names_by_query: list[set[str]]) -> np.ndarray:
    """sqrt(sum_k (d log fn / d log p_k)^2 sd_k^2) over each query's own unidentified parameters."""
    n = len(names_by_query)
    var = np.zeros(n)
    every = sorted(set().union(*names_by_query)) if n else []
    if not every:
        return var
    base = np.log(np.maximum(fn(f, params), 1e-300))
    h = 1e-4
    for k in every:
        p2 = dict(params)
        p2[k] = params.get(k, throughput.PARAM_DEFAULTS[k]) * np.exp(h)
        g = (np.log(np.maximum(fn(f, p2), 1e-300)) - base) / h
        use = np.array([k in s for s in names_by_query])
        var += np.where(use, (g * PRIOR_SD_LOG.get(k, 1.0)) ** 2, 0.0)
    return np.sqrt(var)


def extrapolation(kind: str, f: throughput.SpeedFeatures, params: dict, cells: list[dict] | None,
                  fitted: list[str] | None, build_range: str | None = None, builds=None,
                  families: dict[str, list[str]] | None = None, compressed: bool = False,
                  arch: str | None = None, archs: dict[str, list[str]] | None = None) -> Extrapolation:
    """Per query: extrapolated or not, which inputs, and the sigma inflation (log-sd, pp and tg).

    `kind` is the model's attention kind (attention.attention_kind), `cells` the calibration's
    coverage cells (None or empty: a calibration without rows: everything is outside), `fitted` its
    fitted parameter names, `builds` the llama.cpp build asked for per query (None: the newest),
    `families` the weight families of its rows per test (Calibration.families; None: not judged),
    `compressed` a model with DeepSeek-V4 compressed attention (COMPRESSED_WHY), `arch` its GGUF
    architecture and `archs` the calibration's rows' per test (Calibration.archs; None: not judged).
    An architecture without rows is named, not widened: the calibrations' residual sigma is nested
    over folds that hold whole architectures out (vtt.calibrate.validate), so it already is the
    spread of an unmeasured one; the H200 answered Gemma 3 26-31 % off without a word (h200_unseen)."""
    n = len(f)
    cells = cells or []
    fitted = set(fitted or [])
    paths_full = f.fa_path_full if f.fa_path_full is not None else np.zeros(n, dtype=int)
    swa_used = (f.attn_flops_swa > 0) if f.attn_flops_swa is not None else np.zeros(n, bool)
    rng = _build_range(build_range)
    inputs: list[list[str]] = []
    unid_pp: list[set[str]] = []
    unid_tg: list[set[str]] = []
    memo: dict[tuple, tuple] = {}  # queries of one model differ mostly in depth: judge each cell once
    short_prompt = np.array([bool(cells) and 0 < p < SHORT_PROMPT_TOKENS for p in f.n_prompt], dtype=bool)

    def filled(why: list[str], j: int) -> list[str]:  # this query's depth and prompt in the memo's words
        return [w.replace("{depth}", str(int(f.depth[j]))).replace("{prompt}", str(int(f.n_prompt[j]))) for w in why]

    deep = {t: deepest_row(cells, t, kind) for t in ("pp", "tg")}
    for j in range(n):
        vec = _decodes_vec(f, j, swa_used[j])
        short = bool(short_prompt[j])
        beyond = {t: d is not None and f.depth[j] > d for t, d in deep.items()}
        key = (int(paths_full[j]), bool(swa_used[j]), bool(f.n_rec_layers[j] > 0), None if f.fa_path_swa is None else int(f.fa_path_swa[j]),
               None if f.head_width is None else float(f.head_width[j]),
               None if f.head_width_swa is None else float(f.head_width_swa[j]),
               depth_band(int(f.depth[j])), f.n_prompt[j] > 0, f.n_gen[j] > 0,
               None if builds is None else builds[j], int(f.family_idx[j]), vec, short, beyond["pp"], beyond["tg"])
        if key in memo:
            why_j, pp_j, tg_j = memo[key]
            inputs.append(filled(why_j, j))
            unid_pp.append(pp_j)
            unid_tg.append(tg_j)
            continue
        why: list[str] = []
        pp_u: set[str] = set()
        tg_u: set[str] = set()
        if not cells:
            why.append("no measured rows for this hardware and backend (physics defaults)")
            pp_u |= set(KIND_PARAMS["pp"])
            tg_u |= set(KIND_PARAMS["tg"])
        else:
            groups = [(attention.PATHS[int(paths_full[j])], float(f.head_width[j]) if f.head_width is not None else 128.0)]
            if swa_used[j] and f.fa_path_swa is not None:
                groups.append((attention.PATHS[int(f.fa_path_swa[j])],
                               float(f.head_width_swa[j]) if f.head_width_swa is not None else groups[0][1]))
            ref = attention.PATHS[int(f.fa_ref[j])] if f.fa_ref is not None else groups[0][0]
            for path, width in dict.fromkeys(groups):
                on_path = [c for c in cells if c["path"] == path and c["test"] == "pp"]
                if not on_path:
                    why.append(f"kernel path {path}")
                    if path != ref:
                        pp_u.add(f"fa_eff_{path}")
                ws = [c["head_width"] for c in on_path] or [c["head_width"] for c in cells]
                if not min(ws) <= width <= max(ws):
                    why.append(f"head width {int(width)} (rows: {min(ws)}-{max(ws)})")
                    pp_u.add("fa_hw2" if path == ref else "fa_hw2_fb")
            if not any(c["kind"] == kind for c in cells):
                why.append(f"attention kind {kind}")
                pp_u |= set(KIND_PARAMS["pp"])
                tg_u |= set(KIND_PARAMS["tg"])
            # depth range: deeper than any row of this test and kind (bands of the -d value, as the
            # cells are; between measured depths the model interpolates)
            past: list[tuple[str, int]] = []
            for test, u in (("pp", pp_u), ("tg", tg_u)):
                asked = (f.n_prompt[j] if test == "pp" else f.n_gen[j]) > 0
                band = depth_band(int(f.depth[j]))
                deepest = max((DEPTH_BANDS.index(c["depth_band"]) for c in cells if c["test"] == test and c["kind"] == kind),
                              default=None)
                if asked and deepest is not None and DEPTH_BANDS.index(band) > deepest:
                    why.append(f"depth {{depth}} ({test}: {kind} rows reach {DEPTH_BANDS[deepest]})")
                    u |= set(KIND_PARAMS[test])
                elif asked and beyond[test]:
                    # inside the open-ended last band but deeper than any row: on RADV, stock llama.cpp's
                    # prefill attention rate falls past 32-64K by a per-model amount no row predicts
                    # (validation/report_notes.md depth-knee), so a longer context is not interpolation
                    past.append((test, deep[test]))
                    u |= set(KIND_PARAMS[test])
            if len({r for _, r in past}) == 1:  # one phrase for both tests where their rows reach the same depth
                past = [("/".join(t for t, _ in past), past[0][1])]
            why += [f"depth {{depth}} ({t}: {kind} rows reach {r})" for t, r in past]
        if f.n_rec_layers[j] > 0 and "t_rec_layer_us" not in fitted:
            # recurrent (SSM / DeltaNet) layers with no rows to fit their per-layer cost, state passes
            # and scan rate: the defaults (20 us, 2 passes) were ~5x off on ROCm (REPORT notes)
            why.append("recurrent layers (no rows)")
            tg_u |= {"t_rec_layer_us", "state_rw"}
            pp_u |= {"rec_pp_eff"}
        if vec and f.depth[j] > 0 and f.n_gen[j] > 0 and "kv_vec" not in fitted:
            # decode at depth on HIP's vec kernel (MHA) with no rows that ran it: its KV rate is a prior
            why.append("decode kernel vec (HIP, MHA: no rows at depth)")
            tg_u.add("kv_vec")
        fam = throughput.FAMILIES[int(f.family_idx[j])]
        for test, u, name in (("pp", pp_u, f"ce_{fam}"), ("tg", tg_u, f"dq_{fam}")):
            asked = (f.n_prompt[j] if test == "pp" else f.n_gen[j]) > 0
            if cells and families is not None and asked and fam not in families.get(test, []):
                # the matmul (prefill) or mat-vec (decode) kernel of this weight type never ran in the
                # rows: its rate is a tie to another family or a default (AMDVLK's MXFP4 prefill came
                # out 2x faster than the legacy rate it is tied to)
                why.append(f"weight type {fam} ({test}: rows have {', '.join(families.get(test, [])) or 'none'})")
                if not (test == "tg" and fam == "k"):  # dq_k is the reference, 1 by definition
                    u.add(name)
        if short:
            why.append(f"prompt of {{prompt}} tokens (prefill rows: {SHORT_PROMPT_TOKENS} and more; small-batch kernels)")
        b = None if builds is None else builds[j]
        if b is not None and rng and not rng[0] <= int(b) <= rng[1]:
            why.append(f"build b{int(b)} (rows: b{rng[0]}-b{rng[1]})")
        elif b is not None and int(b) > 1 and not rng and build_range:
            # rows from a source tree without build numbers (named by commit): no range to be inside
            why.append(f"build b{int(b)} (rows: {build_range}, no build number)")
        if compressed:
            why.append(COMPRESSED_WHY)
        if cells and archs is not None and arch:
            missing = [t for t in ("pp", "tg") if (f.n_prompt[j] if t == "pp" else f.n_gen[j]) > 0
                       and arch not in archs.get(t, [])]
            if missing:
                have = sorted(set().union(*(archs.get(t, []) for t in missing)))
                why.append(f"architecture {arch} ({'/'.join(missing)} rows: {', '.join(have) or 'none'})")
        why = list(dict.fromkeys(why))
        # a parameter the rows did fit is identified whatever this query's cell says
        memo[key] = (why, {k for k in pp_u if k not in fitted or k in KIND_PARAMS["pp"]},
                     {k for k in tg_u if k not in fitted or k in KIND_PARAMS["tg"]})
        inputs.append(filled(why, j))
        unid_pp.append(memo[key][1])
        unid_tg.append(memo[key][2])
    sd_pp = _jacobian_sd(lambda ff, pp: np.maximum(throughput.pp_tps(ff, pp), 1e-12), f, params, unid_pp)
    sd_pp = np.sqrt(sd_pp ** 2 + np.where(short_prompt, SHORT_PROMPT_SD_LOG ** 2, 0.0))
    sd_pp = np.sqrt(sd_pp ** 2 + config_sd(f, params) ** 2 + (COMPRESSED_SD_LOG ** 2 if compressed else 0.0))
    sd_tg = _jacobian_sd(throughput.tg_tps, f, params, unid_tg)
    if compressed:
        sd_tg = np.sqrt(sd_tg ** 2 + COMPRESSED_SD_LOG ** 2)
    return Extrapolation(np.array([bool(x) for x in inputs]), inputs, sd_pp, sd_tg)


def config_sd(f: throughput.SpeedFeatures, params: dict) -> np.ndarray:
    """Extra pp log-sd where a setting that moves the answer is not known (vtt.cost.gemm: whether an
    older HIP build had hipBLASLt): the 90 % interval reaches the answers for both settings."""
    if f.tensile is None or not np.any((f.tensile > 0) & (f.tensile < 1)):
        return np.zeros(len(f))
    from dataclasses import replace

    mid = throughput.pp_tps(f, params)
    slow = throughput.pp_tps(replace(f, tensile=np.ones(len(f))), params)
    fast = throughput.pp_tps(replace(f, tensile=np.zeros(len(f))), params)
    with np.errstate(invalid="ignore", divide="ignore"):
        far = np.maximum(np.log(fast / mid), np.log(mid / slow))
    unknown = (f.tensile > 0) & (f.tensile < 1) & (mid > 0) & (slow > 0)
    return np.where(unknown, np.nan_to_num(far) / Z90, 0.0)


def widen(sp: dict, ext: Extrapolation) -> dict:
    """Widen predict_speed's 90 % intervals by the extrapolation's log-sd (in quadrature)."""

    out = dict(sp)
    for key, extra in (("pp", ext.sd_pp), ("tg", ext.sd_tg)):
        val, lo = sp[f"{key}_tps"], sp[f"{key}_lo"]
        with np.errstate(invalid="ignore", divide="ignore"):
            sd0 = np.where((val > 0) & (lo > 0), np.log(np.where(val > 0, val, 1) / np.where(lo > 0, lo, 1)) / Z90, 0.0)
        sd = np.sqrt(sd0**2 + extra**2)
        out[f"{key}_lo"] = val * np.exp(-Z90 * sd)
        out[f"{key}_hi"] = val * np.exp(Z90 * sd)
    pf = sp["ttft_s"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["ttft_lo"] = np.where(out["pp_hi"] > 0, pf * sp["pp_tps"] / np.where(out["pp_hi"] > 0, out["pp_hi"], 1), pf)
        out["ttft_hi"] = np.where(out["pp_lo"] > 0, pf * sp["pp_tps"] / np.where(out["pp_lo"] > 0, out["pp_lo"], 1), pf)
    return out
