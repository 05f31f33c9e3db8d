"""validation/REPORT.md from the computed results (vtt.calibrate.report.compute). Every number here
comes from those results or from a constant it names; prose that carries experiment numbers is read
from validation/report_notes.md."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vtt.calibrate.report.compute import COVERAGE_BAND, KINDS, SCHEMES, SLICES, TARGETS, GroupResult
from vtt.cost.attention import ATTENTION_KINDS
from vtt.calibrate.validate import DEPTH_BANDS, NAIVE_BW_EFF, NAIVE_CE, abs_pct, depth_band, summarize

SCHEME_TEXT = {
    "family": "leave-family-out (the catalog's model family; the figure before issue 9)",
    "architecture": "leave-architecture-out (GGUF architecture: Qwen3.5 and Qwen3.6 MoE are one fold)",
    "attention": "leave-attention-kind-out (MHA, GQA, MLA, wide-head >= 512, SWA/hybrid)",
    "build-era": "leave-build-era-out (llama.cpp < b9000 vs >= b9000)",
}


def fmt(s: dict | None) -> str:
    return "-" if not s or not s.get("n") else f"{s['median']:.1f} / {s['p90']:.1f} (n={s['n']})"


def pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.0f} %"


def cell(s: dict | None) -> str:
    if not s or not s.get("n"):
        return "-"
    return f"{s['median']:.1f} / {s['p90']:.1f} (n={s['n']}, cov {pct(s.get('coverage'))})"


def notes(path: Path) -> dict[str, str]:
    """Sections of validation/report_notes.md by their '## name' heading."""
    if not path.is_file():
        return {}
    parts = re.split(r"^## (\S+)\s*$", path.read_text(), flags=re.M)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def scheme_table(groups: list[GroupResult]) -> list[str]:
    L = ["| backend | era | held out by | folds | " + " | ".join(f"{s} median / p90 (n, coverage)" for s in SLICES) + " |",
         "|---|---|---|---|" + "---|" * len(SLICES)]
    for g in groups:
        for scheme in SCHEMES:
            if scheme not in g.cvs:
                continue
            st = g.stats(scheme)
            L.append(f"| {g.backend} | {g.era} | {scheme} | {len(g.cvs[scheme].folds)} | "
                     + " | ".join(cell(st.get(s)) for s in SLICES) + " |")
    return L


def targets_lines(groups: list[GroupResult]) -> list[str]:
    """Leave-attention-kind-out against the issue-9 targets, per 2026 backend."""
    L = []
    for g in groups:
        if g.era != "2026" or "attention" not in g.cvs:
            continue
        st = g.stats("attention")
        parts = []
        for s in SLICES:
            x = st.get(s) or {}
            if not x.get("n"):
                continue
            ok = x["median"] <= TARGETS[s]
            parts.append(f"{s} {x['median']:.1f} % (target <= {TARGETS[s]:.0f}: {'met' if ok else 'missed'})")
        folds = g.fold_stats("attention")
        covs = [(f, s, v["coverage"]) for f, d in folds.items() for s, v in d.items() if v.get("n", 0) >= 5]
        bad = [f"{f} {s} {pct(c)}" for f, s, c in covs if not COVERAGE_BAND[0] <= c <= COVERAGE_BAND[1]]
        L.append(f"- **{g.backend}**: " + "; ".join(parts) + ". Coverage outside 85-95 % in held-out kinds "
                 f"(slices of >= 5 rows): {', '.join(bad) if bad else 'none'}.")
    return L


def fold_table(groups: list[GroupResult], scheme: str) -> list[str]:
    L = ["| backend | era | held-out group | " + " | ".join(SLICES) + " |", "|---|---|---|" + "---|" * len(SLICES)]
    for g in groups:
        for f, st in g.fold_stats(scheme).items():
            L.append(f"| {g.backend} | {g.era} | {f} | " + " | ".join(cell(st.get(s)) for s in SLICES) + " |")
    return L


def family_tables(groups: list[GroupResult]) -> list[str]:
    L = ["| backend | era | rows | tg vtt | tg naive | pp vtt | pp naive | tg in-sample | pp in-sample | coverage tg | coverage pp |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        cv, inside = g.cv, g.inside["family"]
        ok = np.isfinite(cv.predicted)
        tg = cv.ds.is_tg
        e, nv = abs_pct(cv.predicted, cv.ds.measured), abs_pct(cv.naive, cv.ds.measured)
        ins = g.cal.residual_stats["in_sample"]
        L.append(f"| {g.backend} | {g.era} | {len(cv.ds.rows)} | {fmt(summarize(e[ok & tg]))} | {fmt(summarize(nv[tg]))} | "
                 f"{fmt(summarize(e[ok & ~tg]))} | {fmt(summarize(nv[~tg]))} | {fmt(ins['tg'])} | {fmt(ins['pp'])} | "
                 f"{pct(inside[ok & tg].mean())} | {pct(inside[ok & ~tg].mean())} |")
    g26 = [g for g in groups if g.era == "2026"]
    if g26:
        alle = np.concatenate([abs_pct(g.cv.predicted, g.cv.ds.measured) for g in g26])
        allt = np.concatenate([g.cv.ds.is_tg for g in g26])
        alli = np.concatenate([g.inside["family"] for g in g26])
        L += ["", f"All 2026 groups pooled: tg {fmt(summarize(alle[allt]))}, pp {fmt(summarize(alle[~allt]))}, "
              f"coverage tg {pct(alli[allt].mean())}, pp {pct(alli[~allt].mean())}."]
    hdr = ["| backend | {} | test | vtt median / p90 | naive median / p90 | coverage |", "|---|---|---|---|---|---|"]
    for title, key_fn, keys in (("depth band", lambda r: depth_band(int(r["n_depth"])), DEPTH_BANDS),
                                ("architecture kind", lambda r: r["kind"], KINDS)):
        L += ["", f"### Leave-family-out by {title}", "", hdr[0].format(title.split()[-1]), hdr[1]]
        for g in groups:
            cv, inside = g.cv, g.inside["family"]
            ok = np.isfinite(cv.predicted)
            kv = np.array([key_fn(r) for r in cv.ds.rows])
            for k in keys:
                for test, sel in (("tg", cv.ds.is_tg), ("pp", ~cv.ds.is_tg)):
                    m = ok & sel & (kv == k)
                    if m.any():
                        L.append(f"| {g.backend} {g.era} | {k} | {test} | {fmt(summarize(abs_pct(cv.predicted[m], cv.ds.measured[m])))} | "
                                 f"{fmt(summarize(abs_pct(cv.naive[m], cv.ds.measured[m])))} | {pct(inside[m].mean())} |")
    return L


def memory_table(pts: list[dict]) -> list[str]:
    e = np.array([abs(p["pred_gib"] / p["meas_gib"] - 1) * 100 for p in pts])
    signed = np.array([(p["pred_gib"] / p["meas_gib"] - 1) * 100 for p in pts])
    L = ["| group | n | median abs % | p90 abs % | median signed % (+ = vtt above the peak) |", "|---|---|---|---|---|"]
    for name, sel in [("all", np.ones(len(pts), bool))] + [
            (f"backend {b}", np.array([p["backend"] == b for p in pts])) for b in sorted({p["backend"] for p in pts})] + [
            (f"kind {k}", np.array([p["kind"] == k for p in pts])) for k in KINDS if any(p["kind"] == k for p in pts)]:
        if sel.any():
            L.append(f"| {name} | {int(sel.sum())} | {np.median(e[sel]):.1f} | {np.percentile(e[sel], 90):.1f} | {np.median(signed[sel]):+.1f} |")
    return L


def seed_table(items: list[dict]) -> list[str]:
    L = ["| seed table | model | seed pp / tg t/s | seed mem@65K GB | vtt pp512 / tg128 (RADV) [90 % interval tg] | vtt mem@65K GiB | public pp512 / tg128 (RADV 2026, same model) | verdict |",
         "|---|---|---|---|---|---|---|---|"]
    for it in items:
        s, a = it["seed"], it["answer"]
        if "error" in a:
            L.append(f"| {it['table']} | {s['model']} | - | - | error: {a['error']['message']} | - | - | - |")
            continue
        lo, hi = a["tg_tps_interval"]
        st = s.get("tg_tps")
        pub_txt = (f"{it['public_pp']:.0f} / {it['public_tg']:.1f}" if it["public_pp"] and it["public_tg"] else "none in the CSV")
        if it["public_tg"]:
            verdict = "public data support the seed's tg" if abs(st / it["public_tg"] - 1) < 0.15 else "public data contradict the seed's tg"
        elif st is not None:
            verdict = "inside vtt's tg interval" if lo <= st <= hi else ("below vtt's tg interval" if st < lo else "above vtt's tg interval")
        else:
            verdict = "-"
        L.append(f"| {it['table']} | {s['model']} | {s.get('pp_tps', '-')} / {st if st is not None else '-'} | {s.get('memory_at_65k_gb', '-')} | "
                 f"{a['pp_tps']:.0f} / {a['tg_tps']:.1f} [{lo:.1f}, {hi:.1f}] | {a['total_gib']:.1f} | {pub_txt} | {verdict} |")
    return L


def render(groups, mem_pts, seed_items, n_rows: int, csv_name: str, plots: list[str], note: dict[str, str], world,
           n_variant: int = 0) -> str:
    hw = world.get_hardware("strix-halo-128")
    L = ["# vtt accuracy report: Strix Halo (strix-halo-128)", "",
         "Regenerate: `vtt report --accuracy` (or `python validation/accuracy_report.py`). Shipped calibrations: "
         "`python validation/make_calibrations.py`. Data: validation/SOURCES.md. Prose with experiment numbers: "
         "validation/report_notes.md.", "",
         f"Data: {n_rows} public llama-bench rows (`{csv_name}`). The CSV's `hip` rows are mapped to `rocm`, era 2025 "
         "(llama.cpp builds < b7000) and never pooled with the 2026 ROCm 7 toolboxes; AMDVLK is split the same way. "
         "Shipped defaults use the 2026 builds only."
         + (f" {n_variant} rows of llama.cpp forks and patched builds (kyuz0's experimental toolboxes: "
            "vtt.calibrate.rows.VARIANTS) are neither fitted nor scored." if n_variant else ""), "",
         "## Method", "",
         "- **Held-out folds**: for each group of a scheme, fit the speed parameters on the other groups' rows of the same "
         "backend x era and predict the held-out group. Schemes: " + "; ".join(SCHEME_TEXT[s] for s in SCHEMES) + ".",
         "- Errors are absolute % errors |pred/measured - 1|; cells are `median / p90 (n, coverage)`. Slices: prompt "
         "processing at depth 0, prompt processing at depth > 0, generation (any depth).",
         "- **Coverage**: share of held-out rows inside vtt's 90 % interval, whose sigma (per test and depth band) was chosen "
         "from the *other* groups' held-out residuals (nested). The interval is the one `vtt plan` gives: the fitted parameters' "
         "spread, widened for inputs outside the fold's rows (vtt.cost.coverage: kernel path, head width, attention kind, "
         "depth band, build).",
         f"- **Naive baseline**: tg = {NAIVE_BW_EFF} x {hw.mem_bandwidth_gbs:g} GB/s / active weight bytes per token; "
         f"pp = {NAIVE_CE} x {hw.fp16_tflops:g} TFLOPS / (2 x active matmul params).", "",
         "## Held-out accuracy by fold scheme", "",
         f"Targets (issue 9), leave-attention-kind-out median per backend: pp at depth <= {TARGETS['pp d>0']:.0f} %, "
         f"pp at depth 0 <= {TARGETS['pp d=0']:.0f} %, tg <= {TARGETS['tg']:.0f} %; coverage "
         f"{COVERAGE_BAND[0]:.0%} to {COVERAGE_BAND[1]:.0%} in every fold.", ""]
    seen = sorted({str(f) for g in groups if "attention" in g.cvs for f in g.cvs["attention"].folds})
    unseen = [k for k in ATTENTION_KINDS if k not in seen]
    L += targets_lines(groups) + ["", f"Attention kinds in the public rows: {', '.join(seen)}. "
          + (f"No row has {', '.join(unseen)}: those kinds cannot be held out here; `vtt plan` answers them as "
             "extrapolated with the widened interval (`vtt catalog coverage` lists the cells that have rows)." if unseen else ""),
          ""] + scheme_table(groups)
    L += ["", "### Leave-attention-kind-out, per held-out kind", ""] + fold_table(groups, "attention")
    L += ["", "### Leave-build-era-out, per held-out era", ""] + fold_table(groups, "build-era")
    L += ["", "## Leave-family-out (the earlier figure)", ""] + family_tables(groups)
    L += ["", "## Peak memory", "",
          "lhl's rows carry `mem_peak_mib` (VRAM + GTT peak during the llama-bench run). vtt's number is `vtt plan`'s `total_gib` at "
          "n_ctx = n_prompt + n_gen + n_depth with the row's flash-attention and ubatch settings. The model has no fitted memory "
          "parameter, so these errors are out-of-sample by construction.", ""] + memory_table(mem_pts)
    L += ["", "## Seed claims vs vtt vs public measurements", "",
          "vtt answers `vtt plan MODEL -q QUANT -c 65536 -p 512 -n 128` on vulkan-radv; the public column is the CSV's RADV 2026 "
          "pp512/tg128 median for the same model and quant, where one exists.", ""] + seed_table(seed_items)
    if note.get("seed-reading"):
        L += ["", note["seed-reading"]]
    if plots:
        L += ["", "## Plots", ""] + [f"- [{m}](plots/{m})" for m in plots] + [
            "", "![RADV predicted vs measured](plots/pred_vs_measured_vulkan-radv_2026.png)",
            "![tg vs depth](plots/tg_vs_depth_radv.png)", "![memory vs context](plots/memory_vs_context.png)"]
    if note.get("model"):
        L += ["", "## What the model contains and what is known to be missing", "", note["model"]]
    return "\n".join(L) + "\n"
