"""Human renderings. rich is imported only here, and only when stdout is a terminal."""

from __future__ import annotations

import sys

PLAN_COLUMNS = [
    ("model", "model", "{}"), ("quant", "quant", "{}"), ("context", "ctx", "{}"), ("depth", "depth", "{}"),
    ("weights_gib", "weights GiB", "{:.2f}"), ("kv_cache_gib", "KV GiB", "{:.2f}"),
    ("compute_buffer_gib", "compute GiB", "{:.2f}"), ("total_gib", "total GiB", "{:.2f}"),
    ("budget_gib", "budget GiB", "{:.1f}"), ("fits", "fits", "{}"), ("pp_tps", "pp t/s", "{:.0f}"),
    ("tg_tps", "tg t/s", "{:.1f}"), ("ttft_s", "TTFT s", "{:.2f}"),
]


def _cell(a: dict, key: str, fmt: str) -> str:
    v = a.get(key)
    if v is None:
        return "-"
    if key in ("pp_tps", "tg_tps"):
        lo, hi = a.get(f"{key}_interval", [None, None])
        if lo is not None:
            return f"{fmt.format(v)} ({fmt.format(lo)}-{fmt.format(hi)})"
    if key == "fits":
        return "yes" if v else "NO"
    return fmt.format(v)


def render_plan(answers: list[dict], units: str = "GiB") -> None:
    cols = PLAN_COLUMNS
    if units == "GB":  # the *_gb keys vtt.plan adds for --units GB
        cols = [(k[:-4] + "_gb", h.replace("GiB", "GB"), f) if k.endswith("_gib") else (k, h, f) for k, h, f in cols]
    rows = []
    for a in answers:
        if "error" in a:
            rows.append([a.get("model", "?"), "error: " + a["error"]["message"]] + [""] * (len(cols) - 2))
        else:
            rows.append([_cell(a, k, f) for k, _, f in cols])
    heads = [h for _, h, _ in cols]
    ok = [a for a in answers if "error" not in a]
    foot = ""
    if ok:
        a = ok[0]
        foot = (f"{a['hardware']} / {a['backend']}, calibration {a['calibration']}; "
                f"pp for -p {a['n_prompt']}, tg for -n {a['n_gen']}, 90% intervals in brackets; "
                f"weights from {a['weights_source']}")
        for w in {w for a in ok for w in a.get("warnings", [])}:
            foot += f"\nwarning: {w}"
    print_table(heads, rows, foot)


def print_table(heads: list[str], rows: list[list[str]], foot: str | None = None) -> None:
    """A rich table on a terminal; aligned plain text when piped (and no rich import)."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        t = Table(*heads, caption=foot or None)
        for r in rows:
            t.add_row(*r)
        Console().print(t)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    if foot:
        print(foot)
