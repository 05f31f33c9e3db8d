"""Held-out check of vtt's speed predictions on public Strix Halo llama-bench logs the calibration never saw.

    .venv/bin/python validation/public_heldout/score.py

reads logs.txt (llama-bench logs of kyuz0/amd-strix-halo-toolboxes benchmark/results/, 2025 builds, for
model files that are not in the shared calibration CSV) and points.csv (the same publisher's 2026 depth
curves of DeepSeek-V4-Flash, from docs/toolbox-performance-results.json), writes rows.csv (one row per test),
asks `vtt.plan.plan_many` for every row and writes REPORT.md (errors, 90 % interval coverage, the
largest misses). Nothing is fitted to these rows: the shipped calibrations (specs/calibrations) answer
as they are. notes.md (hand-written: what the largest errors share) is copied into the report.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_URL = "https://github.com/kyuz0/amd-strix-halo-toolboxes/blob"
# The oldest llama.cpp build of any shipped strix-halo-128 calibration's rows (specs/calibrations/
# strix-halo-128/*.yaml `builds`): rows before it are another era, answered with `extrapolated`.
CALIBRATED_FROM_BUILD = 7938

COLUMNS = ["source_url", "model_file", "catalog_id", "quant", "file_size_gib", "backend", "backend_detail",
           "build", "flash_attn", "test", "n_prompt", "n_gen", "n_depth", "tps", "tps_sd", "n_ubatch"]
POINTS_URL = f"{REPO_URL}/687d9b6c63093ca7bc925dcfc60bf10e5a55449c/docs/toolbox-performance-results.json"
# build numbers of the points' commits, from that file's meta.toolboxes[].builds
POINTS_BUILDS = {"39eab74a0": 10246, "ddd4ec142": 10217, "1c3c9674d": 10269}
# A file stem the catalog's name reader does not take, and the catalog model it is (llama-bench's own
# type line in the log says "llama 70B Q4_K - Medium", 70.55 B params: Llama 3.3 70B by its name).
CATALOG_BY_STEM = {"llama3.3-70.6B-Q4_K_M": "llama-3.3-70b"}
QUANT_RE = re.compile(r"((?:UD-)?(?:I?Q\d_[A-Z0-9_]+?|BF16|F16|F32|MXFP4)(?:_XL|_XXS|_XS|_[SML])?)$", re.I)


# ---------------------------------------------------------------- logs -> rows

def file_config(path: str) -> dict:
    """'benchmark/results/M__rocm7_rc-rocwmma__hblt0__fa1.log' -> model_file M, backend rocm,
    backend_detail 'rocm7_rc-rocwmma hblt0', flash_attn 1 (the toolboxes' file-name scheme)."""
    stem = Path(path).name.removesuffix(".log")
    model_file, *parts = stem.split("__")
    fa = 1 if "fa1" in parts else 0
    detail = [p for p in parts if p not in ("fa1", "fa0")]
    env = detail[0] if detail else ""
    backend = ("vulkan-radv" if env.startswith("vulkan_radv") else "vulkan-amdvlk" if env.startswith("vulkan_amdvlk")
               else "rocm" if env.startswith("rocm") else env)
    return {"model_file": model_file, "backend": backend, "backend_detail": " ".join(detail), "fa_from_name": fa}


def quant_of(model_file: str) -> str:
    """The quant label in a file stem: 'GLM-4.5-Air-UD-Q4_K_XL-00001-of-00002' -> 'UD-Q4_K_XL'."""
    base = re.sub(r"-\d{5}-of-\d{5}$", "", model_file)
    m = QUANT_RE.search(base)
    return m.group(1) if m else ""


def parse_logs(text: str) -> list[dict]:
    """Every llama-bench table row of logs.txt as a row of COLUMNS (catalog_id left empty); each log's
    table is read by vtt's own llama-bench markdown reader (vtt.harness.ingest.read_markdown)."""
    from vtt.harness.ingest import BAD, read_markdown
    from vtt.units import GIB

    rows: list[dict] = []
    blocks = re.split(r"^=== ", text, flags=re.M)[1:]
    for block in blocks:
        head, _, body = block.partition("\n")
        path, commit = [s.strip() for s in head.split(" @ ")]
        cfg = file_config(path)
        for r in read_markdown(body):
            # one test per row: pp or tg (a combined pp+tg row is not a speed of either)
            if BAD in r or bool(r["n_prompt"]) == bool(r["n_gen"]):
                continue
            # llama-bench prints the fa column only when it differs from its default (0 in these
            # builds, which predate -fa on|off|auto); the file name must agree.
            fa = int(r.get("flash_attn", "0"))
            if fa != cfg["fa_from_name"]:
                raise ValueError(f"{path}: fa column {fa} disagrees with the file name")
            rows.append({
                "source_url": f"{REPO_URL}/{commit}/{path}",
                "model_file": cfg["model_file"],
                "catalog_id": "",
                "quant": quant_of(cfg["model_file"]),
                "file_size_gib": round(r["model_size"] / GIB, 2),  # printed as GiB with 2 decimals
                "backend": cfg["backend"],
                "backend_detail": cfg["backend_detail"],
                "build": r.get("build_number"),
                "flash_attn": fa,
                "test": "pp" if r["n_prompt"] else "tg",
                "n_prompt": r["n_prompt"],
                "n_gen": r["n_gen"],
                "n_depth": r["n_depth"],
                "tps": r["avg_ts"],
                "tps_sd": r["stddev_ts"],
                "n_ubatch": 512,  # llama-bench's default; these runs set no -ub
            })
    return rows


def parse_points(text: str) -> list[dict]:
    """points.csv (toolbox-performance-results.json points) as rows of COLUMNS. The points do not say
    the flash-attention setting: the publisher's 2026 curve runs are all -fa 1 (the calibration CSV's
    `..._curve-..._fa1_ub2048.jsonl` files), so 1 is assumed. The file size is not given: vtt sizes the
    weights from the quant recipe."""
    lines = [x for x in text.splitlines() if x and not x.startswith("#")]
    rows = []
    for r in csv.DictReader(lines):
        tb = r["toolbox"]
        pp = r["series"] == "prefill"
        n_prompt, n_gen = int(r["prompt_tokens"]), int(r["generation_tokens"])
        rows.append({
            "source_url": POINTS_URL, "model_file": r["model_source"], "catalog_id": "",
            "quant": quant_of(r["model_source"]), "file_size_gib": None,
            "backend": "vulkan-radv" if tb == "vulkan-radv" else "rocm" if tb.startswith("rocm") else tb,
            "backend_detail": f"{tb} curve", "build": POINTS_BUILDS[r["build_commit"]], "flash_attn": 1,
            "test": "pp" if pp else "tg", "n_prompt": n_prompt, "n_gen": n_gen,
            "n_depth": int(r["starting_depth"]), "tps": float(r["mean"]), "tps_sd": float(r["stddev"]),
            "n_ubatch": int(r["ubatch"]),
        })
    return rows


def failed_logs(text: str) -> list[str]:
    """Paths of logs whose run failed (no table: a GPU fault or hang)."""
    out = []
    for block in re.split(r"^=== ", text, flags=re.M)[1:]:
        if "failed (exit" in block and "| model" not in block:
            out.append(block.split(" @ ")[0].strip())
    return out


def resolve_catalog_ids(rows: list[dict], world) -> None:
    """catalog_id of each row: the model vtt's name reader makes of the file stem (as for the
    calibration CSV's rows), else CATALOG_BY_STEM."""
    from vtt.errors import VttError
    from vtt.plan import resolve_model

    seen: dict[str, str] = {}
    for r in rows:
        stem = r["model_file"]
        if stem not in seen:
            try:
                seen[stem] = resolve_model(world, stem, None, None).arch.id
            except VttError:
                seen[stem] = CATALOG_BY_STEM.get(stem, "")
        r["catalog_id"] = seen[stem]


def write_rows(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in COLUMNS})


def read_rows(path: Path) -> list[dict]:
    ints = ("build", "flash_attn", "n_prompt", "n_gen", "n_depth", "n_ubatch")
    floats = ("file_size_gib", "tps", "tps_sd")
    out = []
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            for k in ints:
                r[k] = int(r[k]) if r[k] != "" else None
            for k in floats:
                r[k] = float(r[k]) if r[k] != "" else None
            out.append(r)
    return out


# ---------------------------------------------------------------- rows -> vtt's answers

def query_of(row: dict, world) -> dict:
    """The plan query for one measured row, resolved as vtt.calibrate.dataset.build_dataset resolves
    the calibration CSV's rows: the file stem as the model name, the quant label when the catalog
    knows it, the measured file size. The test llama-bench did not run is 0 (-p 0 / -n 0), as in
    build_dataset; its keys come back null."""
    from vtt.calibrate.dataset import _quant_or_none

    quant = _quant_or_none(world, row["quant"])
    model = row["catalog_id"] if row["model_file"] in CATALOG_BY_STEM else row["model_file"]
    depth = int(row["n_depth"] or 0)
    return {
        "model": model, "quant": quant, "file_size_gib": row["file_size_gib"],
        "context": row["n_prompt"] + row["n_gen"] + depth, "depth": depth,
        "n_prompt": row["n_prompt"], "n_gen": row["n_gen"], "n_ubatch": row.get("n_ubatch") or 512,
        "flash_attn": bool(row["flash_attn"]), "backend": row["backend"], "build": row["build"],
        "hardware": "strix-halo-128",
    }


def score(rows: list[dict], world=None) -> list[dict]:
    """Each row with vtt's answer: pred_tps, lo, hi (90 %), extrapolated, warnings, err_pct, inside."""
    from vtt.plan import plan_many
    from vtt.specs.catalog import default_world

    world = world or default_world()
    answers = plan_many([query_of(r, world) for r in rows], world)
    out = []
    for r, a in zip(rows, answers):
        s = dict(r)
        if "error" in a:
            s.update(pred_tps=None, lo=None, hi=None, extrapolated=None, warnings=[a["error"]["message"]],
                     err_pct=None, inside=None, kind="", arch="", calibration="")
        else:
            key = r["test"]
            pred = a[f"{key}_tps"]
            lo, hi = a[f"{key}_tps_interval"]
            s.update(pred_tps=pred, lo=lo, hi=hi, extrapolated=a["extrapolated"], warnings=a["warnings"],
                     err_pct=100.0 * (pred / r["tps"] - 1.0), inside=bool(lo <= r["tps"] <= hi),
                     kind=a["kind"], arch=a["arch"], calibration=a["calibration"], quant_label=a["quant"])
        out.append(s)
    return out


# ---------------------------------------------------------------- report

def _pct(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(xs, 100 * q)) if xs else math.nan


def summarize(scored: list[dict]) -> dict:
    """n, median and p90 of |error| %, median signed error %, coverage of the 90 % interval."""
    ok = [s for s in scored if s.get("err_pct") is not None]
    ab = [abs(s["err_pct"]) for s in ok]
    return {
        "n": len(ok),
        "median": _pct(ab, 0.5), "p90": _pct(ab, 0.9),
        "bias": _pct([s["err_pct"] for s in ok], 0.5),
        "coverage": (sum(bool(s["inside"]) for s in ok) / len(ok)) if ok else math.nan,
        "extrapolated": sum(bool(s["extrapolated"]) for s in ok),
    }


def _fmt(x: float, nd: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def _table(groups: dict[str, list[dict]], label: str) -> list[str]:
    lines = [f"| {label} | n | median abs err % | p90 abs err % | median signed err % | 90 % interval coverage | extrapolated |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k, g in groups.items():
        st = summarize(g)
        if not st["n"]:
            continue
        lines.append(f"| {k} | {st['n']} | {_fmt(st['median'])} | {_fmt(st['p90'])} | {_fmt(st['bias'], 1)} | "
                     f"{_fmt(100 * st['coverage'], 0)} % | {st['extrapolated']}/{st['n']} |")
    return lines


def group_by(scored: list[dict], key) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in scored:
        out.setdefault(key(s), []).append(s)
    return dict(sorted(out.items()))


def era_of(build) -> str:
    if build is None:
        return "build unknown"
    return f"before b{CALIBRATED_FROM_BUILD}" if build < CALIBRATED_FROM_BUILD else f"b{CALIBRATED_FROM_BUILD} and later"


def quant_family(q: str) -> str:
    q = q.upper().removeprefix("UD-")
    if q.startswith(("BF16", "F16", "F32")):
        return "16-bit"
    if q.startswith("Q8"):
        return "q8"
    if re.match(r"Q\d_K", q):
        return "k-quant"
    if q.startswith("IQ"):
        return "i-quant"
    return q.lower()


def _test(s: dict) -> str:
    return f"{s['test']}{s['n_prompt'] or s['n_gen']}" + (f" @ d{s['n_depth']}" if s["n_depth"] else "")


def report(scored: list[dict], failed: list[str], notes: str = "") -> str:
    builds = sorted({s["build"] for s in scored if s["build"]})
    ok = [s for s in scored if s.get("err_pct") is not None]
    errored = [s for s in scored if s.get("err_pct") is None]
    old = [s for s in ok if (s["build"] or 0) < CALIBRATED_FROM_BUILD]
    new = [s for s in ok if (s["build"] or 0) >= CALIBRATED_FROM_BUILD]
    old_builds = sorted({s["build"] for s in scored if (s["build"] or 0) < CALIBRATED_FROM_BUILD})
    new_builds = sorted({s["build"] for s in scored if (s["build"] or 0) >= CALIBRATED_FROM_BUILD})
    L = ["# Held-out check on public Strix Halo llama-bench results (kyuz0 toolboxes)", "",
         "Generated by `validation/public_heldout/score.py` from `logs.txt` and `points.csv` -> `rows.csv`; do not "
         "edit by hand (the hand-written part is `notes.md`, copied in below).", "",
         "**Nothing was fitted to these rows.** Every prediction is `vtt.plan.plan_many` with the shipped "
         "calibrations, asked with the row's file stem, quant, measured file size (where the source gives it), "
         "test shape, depth, ubatch, flash attention, backend and build. The model files are ones whose names are "
         "not in the shared calibration CSV (`validation/data/strix_halo_calibration.csv`, the copy of the shared one, column `model`).", "",
         f"Rows: {len(scored)} tests of {len({s['model_file'] for s in scored})} model files, in two eras that are "
         "reported apart:", "",
         f"- **2025 builds** ({', '.join('b%d' % b for b in old_builds)}; August-September 2025): {len(old)} rows, "
         f"pp512 and tg128 at depth 0, from {len({s['source_url'] for s in old})} llama-bench logs of the toolboxes' "
         f"`benchmark/results/`. vtt's 2026 Strix Halo calibrations hold rows from b{CALIBRATED_FROM_BUILD} on and its "
         "2025-era ones (ROCm/HIP, AMDVLK: the shared CSV's 2025 rows, b5863-b6118) end just before these builds; "
         "`--build` picks the nearest (the 2025 one for ROCm and AMDVLK, the 2026 one for RADV, which has no 2025 "
         "calibration), and vtt flags them `extrapolated` "
         f"({sum(bool(s['extrapolated']) for s in old)} of {len(old)}).",
         f"- **2026 builds** ({', '.join('b%d' % b for b in new_builds)}): {len(new)} rows, pp2048 and tg128 at depths "
         "0-65536, DeepSeek-V4-Flash (UD-IQ2_XXS, UD-IQ3_XXS) from the toolboxes' "
         "`docs/toolbox-performance-results.json`. Inside the calibrations' build range, but an architecture no "
         f"calibration row has (deepseek4: 512-wide heads, i-quants); vtt flags {sum(bool(s['extrapolated']) for s in new)} "
         f"of {len(new)} extrapolated. The file sizes are not published there, so the weights come from vtt's quant recipe; "
         "the flash-attention setting is not either (1 assumed, as in the publisher's other 2026 curve runs).", ""]
    if errored:
        L += [f"vtt gave no answer for {len(errored)} rows: " + "; ".join(sorted({str(s['warnings'][0]) for s in errored})), ""]
    for title, rows_ in (("2025 builds", old), ("2026 builds", new)):
        if not rows_:
            continue
        L += [f"## {title}: by backend and test", ""] + _table(group_by(rows_, lambda s: f"{s['backend']} {s['test']}"),
                                                                 "backend test") + [""]
    L += ["## By build era and test", ""] + _table(group_by(ok, lambda s: f"{era_of(s['build'])} {s['test']}"), "era test")
    if new:
        L += ["", "## 2026 builds: by backend, test and depth", ""] + _table(
            group_by(new, lambda s: f"{s['backend']} {s['test']} d{s['n_depth'] // 1024:02d}K"), "backend test depth")
    L += ["", "## By model file", ""] + _table(group_by(ok, lambda s: f"{s['model_file']} ({s['catalog_id']}) {s['test']}"),
                                                "model file test")
    L += ["", "## By backend configuration and test", ""] + _table(
        group_by(ok, lambda s: f"{s['backend_detail']} fa{s['flash_attn']} {s['test']}"), "config test")
    L += ["", "## By model kind, quant family and test", ""] + _table(
        group_by(ok, lambda s: f"{s['kind']} {quant_family(s['quant'])} {s['test']}"), "kind quant test")
    for (title, rows_), test in itertools.product((("2025 builds", old), ("2026 builds", new)), ("pp", "tg")):
        worst = sorted([s for s in rows_ if s["test"] == test],
                       key=lambda s: -abs(math.log(s["pred_tps"] / s["tps"])))[:10]
        if not worst:
            continue
        L += ["", f"## {title}, {test}: the largest errors (by |log(predicted / measured)|)", "",
              "| model file | backend | config | fa | test | build | measured | predicted | 90 % interval | err % | kind |",
              "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | --- |"]
        for s in worst:
            L.append(f"| {s['model_file']} | {s['backend']} | {s['backend_detail']} | {s['flash_attn']} | "
                     f"{_test(s)} | b{s['build']} | {s['tps']:.2f} | {s['pred_tps']:.2f} | "
                     f"{s['lo']:.2f}-{s['hi']:.2f} | {s['err_pct']:+.0f} | {s['kind']} |")
    if notes:
        L += ["", notes.strip()]
    L += ["", "## Skipped", "",
          "- Kimi-Dev-72B-UD-Q8_K_XL (llama-bench: `qwen2 70B Q8_0`, 72.71 B): a Qwen2.5-72B finetune; the catalog has no "
          "Qwen2.5-72B (its qwen2 entries stop at 32B), so there is no catalog model with that architecture and it is left out.",
          "- Logs whose run failed (no table): " + (", ".join(Path(p).name for p in failed) if failed else "none") + ".",
          "- The toolboxes' rocWMMA and hipBLASLt-off (`hblt0`) variants and the ROCm 6.4.3 / 7-beta duplicates were "
          "not read: one ROCm 7 RC and one ROCm 6.4.x toolbox per model (6.4.4, or 6.4.2 for the August files that "
          "have no 6.4.4 run), with and without flash attention.",
          "- From docs/toolbox-performance-results.json: the `vulkan-radv-performance` points (a performance fork, "
          "not stock llama.cpp) and the Qwen3.6 points (models that are in the calibration CSV).", "",
          "## Every row", "",
          "| model file | backend | config | fa | test | build | size GiB | measured | sd | predicted | 90 % interval | err % | inside | extrapolated | source |",
          "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- | --- |"]
    for s in scored:
        test = _test(s)
        if s.get("err_pct") is None:
            L.append(f"| {s['model_file']} | {s['backend']} | {s['backend_detail']} | {s['flash_attn']} | {test} | "
                     f"b{s['build']} | {s['file_size_gib']} | {s['tps']} | {s['tps_sd']} | - | - | - | - | - | [log]({s['source_url']}) |")
            continue
        L.append(f"| {s['model_file']} | {s['backend']} | {s['backend_detail']} | {s['flash_attn']} | {test} | "
                 f"b{s['build']} | {s['file_size_gib']} | {s['tps']} | {s['tps_sd']} | {s['pred_tps']:.2f} | "
                 f"{s['lo']:.2f}-{s['hi']:.2f} | {s['err_pct']:+.1f} | {'yes' if s['inside'] else 'no'} | "
                 f"{'yes' if s['extrapolated'] else 'no'} | [log]({s['source_url']}) |")
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    from vtt.specs.catalog import default_world

    world = default_world()
    text = (HERE / "logs.txt").read_text()
    rows = parse_logs(text) + parse_points((HERE / "points.csv").read_text())
    resolve_catalog_ids(rows, world)
    write_rows(rows, HERE / "rows.csv")
    scored = score(read_rows(HERE / "rows.csv"), world)
    notes = (HERE / "notes.md").read_text() if (HERE / "notes.md").exists() else ""
    (HERE / "REPORT.md").write_text(report(scored, failed_logs(text), notes))
    for k, g in group_by([s for s in scored if s.get("err_pct") is not None],
                         lambda s: f"{'<' if (s['build'] or 0) < CALIBRATED_FROM_BUILD else '>='}b{CALIBRATED_FROM_BUILD} {s['backend']} {s['test']}").items():
        st = summarize(g)
        print(f"{k:28s} n={st['n']:3d} median {st['median']:5.1f} %  p90 {st['p90']:5.1f} %  "
              f"bias {st['bias']:+6.1f} %  coverage {100 * st['coverage']:3.0f} %")
    print(f"wrote {HERE / 'rows.csv'} and {HERE / 'REPORT.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
