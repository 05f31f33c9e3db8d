"""The accuracy report's numbers: held-out predictions per backend x era under each fold scheme,
memory against measured peaks, the seed's claims against vtt. No text, no plots."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vtt.calibrate.pipeline import calibrate_rows
from vtt.calibrate.rows import select_rows
from vtt.calibrate.validate import CrossValidation, abs_pct, cross_validate, fold_labels, summarize
from vtt.resources import seed_tables

HARDWARE = "strix-halo-128"
GROUPS = [("vulkan-radv", "2026"), ("vulkan-amdvlk", "2026"), ("rocm", "2026"), ("rocm", "2025"), ("vulkan-amdvlk", "2025")]
KINDS = ("dense", "moe", "mla", "swa", "hybrid")
SCHEMES = ("family", "architecture", "attention", "build-era")
SLICES = ("pp d=0", "pp d>0", "tg")  # the issue-9 targets: pp at depth 0, pp at depth, tg
TARGETS = {"pp d=0": 12.0, "pp d>0": 15.0, "tg": 6.0}  # leave-attention-kind-out median abs %, per backend
COVERAGE_BAND = (0.85, 0.95)



def slice_mask(cv: CrossValidation, name: str) -> np.ndarray:
    tg = cv.ds.is_tg
    d0 = cv.ds.features.depth == 0
    return {"pp d=0": ~tg & d0, "pp d>0": ~tg & ~d0, "tg": tg}[name]


@dataclass
class GroupResult:
    backend: str
    era: str
    cal: object
    cvs: dict[str, CrossValidation] = field(default_factory=dict)  # scheme -> held-out predictions
    inside: dict[str, np.ndarray] = field(default_factory=dict)  # scheme -> row inside its nested 90 % interval

    @property
    def cv(self) -> CrossValidation:
        return self.cvs["family"]

    def stats(self, scheme: str, mask: np.ndarray | None = None) -> dict:
        """{slice: {'n', 'median', 'p90', 'coverage'}} of the held-out rows (optionally masked)."""
        cv = self.cvs.get(scheme)
        if cv is None:
            return {}
        ok = np.isfinite(cv.predicted)
        if mask is not None:
            ok = ok & mask
        out = {}
        for s in SLICES:
            m = ok & slice_mask(cv, s)
            st = summarize(abs_pct(cv.predicted[m], cv.ds.measured[m]))
            st["coverage"] = float(self.inside[scheme][m].mean()) if m.any() else None
            out[s] = st
        return out

    def fold_stats(self, scheme: str) -> dict[str, dict]:
        """Per held-out group of a scheme: its slices' stats."""
        cv = self.cvs.get(scheme)
        if cv is None:
            return {}
        return {str(f): self.stats(scheme, cv.labels == f) for f in cv.folds}


def group_results(rows, world, schemes=SCHEMES) -> list[GroupResult]:
    out = []
    for be, era in GROUPS:
        sel = select_rows(rows, be, era=era)
        if len(sel) < 20:
            continue
        cal, cv = calibrate_rows(sel, world, HARDWARE, be)
        g = GroupResult(be, era, cal, {"family": cv}, {"family": cv.nested_coverage()})
        spec = world.get_backend(be)
        for scheme in schemes:
            if scheme == "family":
                continue
            if len(set(fold_labels(cv.ds, scheme))) < 2:
                continue
            c = cross_validate(cv.ds, hardware=HARDWARE, backend=be, base=spec.defaults, by=scheme)
            g.cvs[scheme] = c
            g.inside[scheme] = c.nested_coverage()
        out.append(g)
    return out


def memory_points(rows, world) -> list[dict]:
    """`vtt plan` total_gib against lhl's measured VRAM + GTT peaks."""
    from vtt.plan import plan_many

    mem = [r for r in rows if r.get("mem_peak_mib")]
    qs = []
    for r in mem:
        n_ctx = int(r["n_prompt"] or 0) + int(r["n_gen"] or 0) + int(r["n_depth"] or 0)
        qs.append({"model": r["model"], "quant": r["quant"] if r.get("quant") and world.find_quant(r["quant"]) else None,
                   "file_size_gib": float(r["file_size_gib"]) if r.get("file_size_gib") else None,
                   "context": max(n_ctx, 2), "n_prompt": 1, "n_gen": 1, "backend": r["backend"],
                   "flash_attn": str(r.get("flash_attn")) == "1", "n_ubatch": int(r["n_ubatch"])})
    pts = []
    for r, a in zip(mem, plan_many(qs, world)):
        if "error" not in a:
            pts.append({"backend": r["backend"], "kind": a["kind"], "model": a["model"], "context": a["context"],
                        "pred_gib": a["total_gib"], "meas_gib": float(r["mem_peak_mib"]) / 1024})
    return pts


def seed_comparison(rows, world) -> list[dict]:
    """Each seed claim (fixtures/seed/seed_tables.yaml) with vtt's answer and the public median."""
    import yaml

    from vtt.plan import plan_many, resolve_model

    seed = yaml.safe_load(seed_tables().read_text())
    by_model: dict = {}
    for r in rows:
        if r.get("n_depth") not in ("0", 0) or not r.get("quant") or r.get("variant"):
            continue
        try:
            mid = resolve_model(world, r["model"], None, None).arch.id
        except Exception:  # noqa: BLE001 - a row that does not resolve is simply not matched
            continue
        by_model.setdefault((mid, r["backend"], r["era"]), []).append(r)
    out = []
    for t in seed["tables"]:
        for s in t["rows"]:
            a = plan_many([{"model": s["vtt_model"], "quant": s["vtt_quant"], "context": 65536, "n_prompt": 512, "n_gen": 128}], world)[0]
            pub = [r for r in by_model.get((s["vtt_model"], "vulkan-radv", "2026"), [])
                   if "error" not in a and world.find_quant(r["quant"])
                   and world.find_quant(r["quant"]).id == world.quant(s["vtt_quant"]).id]
            pp = [float(r["pp_tps"]) for r in pub if r.get("pp_tps") and r["n_prompt"] == "512"]
            tg = [float(r["tg_tps"]) for r in pub if r.get("tg_tps") and r["n_gen"] == "128"]
            out.append({"table": t["id"], "seed": s, "answer": a,
                        "public_pp": float(np.median(pp)) if pp else None, "public_tg": float(np.median(tg)) if tg else None})
    return out
