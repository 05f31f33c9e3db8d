"""Held-out medians and coverage for every backend x era and fold scheme, as the accuracy report
computes them (vtt.calibrate.report.compute.group_results), without plots, memory or seed tables.

    .venv/bin/python validation/kind_physics/folds.py [--json OUT] [--rows BACKEND:SCHEME:GROUP[:ERA]]  (GROUP * = every held-out group; ERA 2026 by default)

`--rows` lists one held-out group's rows: predicted vs measured and the prefill / decode terms.
Used to compare a model change before / after on all folds (validation/report_notes.md).
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    from vtt.calibrate.report.compute import SCHEMES, SLICES, group_results
    from vtt.calibrate.rows import csv_rows
    from vtt.resources import calibration_csv
    from vtt.specs.catalog import load_world

    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--rows", action="append", default=[])
    a = ap.parse_args()
    world = load_world()
    groups = group_results(csv_rows(calibration_csv()), world)
    out = {}
    for g in groups:
        for scheme in SCHEMES:
            st = g.stats(scheme)
            if not st:
                continue
            key = f"{g.backend} {g.era} {scheme}"
            out[key] = {s: [st[s]["median"], st[s]["coverage"], st[s]["n"]] for s in SLICES}
            cells = "  ".join(f"{s}: " + ("-" if st[s]["median"] is None else
                                          f"{st[s]['median']:5.1f} ({100 * st[s]['coverage']:3.0f}%)") for s in SLICES)
            print(f"{key:32s} {cells}")
        for f, st in g.fold_stats("attention").items():
            cells = "  ".join(f"{s}: " + ("-" if st[s]["median"] is None else
                                          f"{st[s]['median']:5.1f} ({100 * st[s]['coverage']:3.0f}%) n={st[s]['n']}")
                              for s in SLICES)
            print(f"    held-out {f:12s} {cells}")
    # pooled over the 2026 groups (every row once per scheme): the overall figure a change must improve
    from vtt.calibrate.report.compute import slice_mask
    from vtt.calibrate.validate import abs_pct

    for scheme in SCHEMES:
        cells = []
        for s in SLICES:
            errs = [abs_pct(g.cvs[scheme].predicted, g.cvs[scheme].ds.measured)[slice_mask(g.cvs[scheme], s)
                                                                                   & np.isfinite(g.cvs[scheme].predicted)]
                    for g in groups if g.era == "2026" and scheme in g.cvs]
            e = np.concatenate(errs)
            out[f"2026 pooled {scheme}"] = out.get(f"2026 pooled {scheme}", {}) | {s: [float(np.median(e)), None, len(e)]}
            cells.append(f"{s}: {np.median(e):5.1f} (n={len(e)})")
        print(f"{'2026 pooled ' + scheme:32s} " + "  ".join(cells))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)
    for spec in a.rows:
        be, scheme, grp, *rest = spec.split(":")
        era = rest[0] if rest else "2026"
        for g in groups:
            if g.backend != be or g.era != era:
                continue
            cv = g.cvs[scheme]
            m = np.ones(len(cv.labels), bool) if grp == "*" else (cv.labels == grp)
            for i in np.flatnonzero(m):
                r = cv.ds.rows[i]
                p, meas = cv.predicted[i], cv.ds.measured[i]
                print(f"{r['model'][:34]:34s} {r.get('quant', '')[:10]:10s} {r['test']} p{r['n_prompt']} d{r['n_depth']} "
                      f"ub{r['n_ubatch']} fa{r.get('flash_attn')} b{r.get('build')}  pred {p:8.1f} meas {meas:8.1f} "
                      f"err {100 * (p / meas - 1):+6.1f}%")


if __name__ == "__main__":
    main()
