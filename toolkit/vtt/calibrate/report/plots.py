"""The accuracy report's plots (matplotlib, optional extra 'plots'): held-out predicted vs measured,
tg vs depth against the shipped calibration, memory vs context."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vtt.calibrate.report.compute import HARDWARE
from vtt.errors import EnvironmentProblem


def matplotlib_pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EnvironmentProblem("plots need matplotlib", hint="pip install 'vtt[plots]', or pass --no-plots") from None
    return plt


def draw_plots(groups, mem_pts, world, out_dir: Path) -> list[str]:
    plt = matplotlib_pyplot()
    from vtt.plan import plan_many

    pdir = out_dir / "plots"
    pdir.mkdir(parents=True, exist_ok=True)
    made = []
    # 1. predicted (held-out) vs measured per backend group
    for g in groups:
        cv = g.cv
        ok = np.isfinite(cv.predicted)
        fig, ax = plt.subplots(figsize=(6.5, 6))
        for test, sel, c in (("tg", cv.ds.is_tg, "tab:blue"), ("pp", ~cv.ds.is_tg, "tab:orange")):
            m = ok & sel
            ax.scatter(cv.ds.measured[m], cv.predicted[m], s=12, alpha=0.6, c=c, label=f"{test} (vtt, family held out)")
            ax.scatter(cv.ds.measured[m], cv.naive[m], s=8, alpha=0.25, marker="x", c="gray", label="naive" if test == "tg" else None)
        lim = [1, 5000]
        ax.plot(lim, lim, "k-", lw=0.8)
        ax.plot(lim, [x * 1.15 for x in lim], "k:", lw=0.6)
        ax.plot(lim, [x / 1.15 for x in lim], "k:", lw=0.6, label="±15 %")
        ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel="measured tokens/s", ylabel="predicted tokens/s",
               title=f"{g.backend} ({g.era} builds): leave-family-out")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(True, which="both", alpha=0.2)
        name = f"pred_vs_measured_{g.backend}_{g.era}.png"
        fig.tight_layout()
        fig.savefig(pdir / name, dpi=110)
        plt.close(fig)
        made.append(name)
    # 2. tg / pp vs depth per model, measured points over the predicted curve + interval (shipped calibration)
    g0 = next((g for g in groups if g.backend == "vulkan-radv" and g.era == "2026"), None)
    if g0:
        rows = g0.cv.ds.rows
        models = ["llama-2-7b", "gpt-oss-120b", "qwen3.5-122b-a10b", "qwen3.6-35b-a3b", "qwen3.6-27b", "gemma-3-27b"]
        fig, axes = plt.subplots(2, 3, figsize=(14, 8))
        for ax, mid in zip(axes.flat, models):
            pts = [r for r in rows if r["model_id"] == mid and r["test"] == "tg"]
            if not pts:
                ax.set_visible(False)
                continue
            quants = [r["quant"] for r in pts]
            q0 = next(r for r in pts if r["quant"] == max(set(quants), key=quants.count))
            pts = [r for r in pts if r["quant"] == q0["quant"]]  # one file per panel: the most measured
            depths = np.linspace(0, 65536, 33).astype(int)
            ans = plan_many([{"model": q0["model"], "quant": q0["quant"], "file_size_gib": float(q0["file_size_gib"]) if q0.get("file_size_gib") else None,
                              "context": int(d) + 34, "depth": int(d), "n_prompt": 1, "n_gen": 32, "backend": "vulkan-radv"} for d in depths], world)
            ok = [a for a in ans if "error" not in a]
            ax.plot([a["depth"] for a in ok], [a["tg_tps"] for a in ok], "b-", label="vtt tg (shipped calibration)")
            ax.fill_between([a["depth"] for a in ok], [a["tg_tps_interval"][0] for a in ok], [a["tg_tps_interval"][1] for a in ok], alpha=0.2, color="b", label="90 % interval")
            ax.scatter([r["n_depth"] for r in pts], [r["measured_tps"] for r in pts], c="k", s=18, zorder=3, label="measured (RADV 2026)")
            ax.set(title=f"{mid} {q0['quant']}", xlabel="depth (tokens in KV cache)", ylabel="tg tokens/s", ylim=(0, None))
            ax.grid(alpha=0.3)
        axes.flat[0].legend(fontsize=8)
        fig.suptitle("Generation speed vs depth, Vulkan RADV (llama-bench -n 32 -d D; d=0 rows are tg128)")
        fig.tight_layout()
        fig.savefig(pdir / "tg_vs_depth_radv.png", dpi=100)
        plt.close(fig)
        made.append("tg_vs_depth_radv.png")
    # 3. memory vs context with the 124 GiB line
    fig, ax = plt.subplots(figsize=(8, 5.5))
    hw = world.get_hardware(HARDWARE)
    ctxs = [4096, 8192, 16384, 32768, 65536, 131072]
    for mid, q, c in [("glm-4.7-flash", "Q8_0", "tab:blue"), ("gpt-oss-120b", "MXFP4", "tab:green"),
                      ("qwen3-235b-a22b", "Q3_K_M", "tab:red"), ("llama-3.3-70b", "Q4_K_M", "tab:purple"),
                      ("qwen3.5-122b-a10b", "UD-Q4_K_XL", "tab:orange")]:
        ans = [a for a in plan_many([{"model": mid, "quant": q, "context": cx, "n_prompt": 1, "n_gen": 1} for cx in ctxs], world) if "error" not in a]
        ax.plot([a["context"] for a in ans], [a["total_gib"] for a in ans], "-o", c=c, ms=3, label=f"{mid} {q} (vtt)")
    if mem_pts:
        ax.scatter([p["context"] for p in mem_pts], [p["meas_gib"] for p in mem_pts], c="k", s=10, label="measured peaks (lhl, other models)")
    ax.axhline(hw.gpu_addressable_gib, c="r", ls="--", label=f"{hw.gpu_addressable_gib} GiB GPU-addressable")
    ax.set(xscale="log", xlabel="context (tokens)", ylabel="GiB", title="Memory footprint vs context (strix-halo-128)")
    ax.set_xticks(ctxs, [f"{c // 1024}K" for c in ctxs])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(pdir / "memory_vs_context.png", dpi=110)
    plt.close(fig)
    made.append("memory_vs_context.png")
    return made


