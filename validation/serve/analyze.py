"""Compare run_gpu.sh's results with predictions.jsonl: per request TTFT and decode t/s (inside vtt's
interval?), memory per context (vtt vs llama-server's buffers vs llama-fit-params), the stress edge,
the soak verdict. Usage: python analyze.py predictions.jsonl OUT_DIR > compare.md"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MIB = 2 ** 20


def jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def inside(x, iv) -> str:
    if x is None or not iv:
        return "-"
    return "yes" if iv[0] <= x <= iv[1] else ("below" if x < iv[0] else "above")


def main(pred_path: str, out_dir: str) -> None:
    preds = jsonl(Path(pred_path))
    out = Path(out_dir)
    for model in sorted({p["model"] for p in preds}):
        mp = [p for p in preds if p["model"] == model]
        print(f"# {model}\n\n## Mode requests (TTFT, decode t/s: measured vs vtt's interval)\n")
        print("| request | prompt | cached | TTFT s | vtt TTFT [lo, hi] | in? | decode t/s | vtt t/s [lo, hi] | in? |")
        print("|---|---|---|---|---|---|---|---|---|")
        meas = {r["request"]: r for r in jsonl(out / f"modes-{model}.jsonl")}
        hits = {"ttft": 0, "tps": 0, "n": 0}
        for p in (x for x in mp if x["kind"] == "request"):
            m = meas.get(p["request"], {})
            a, b = inside(m.get("ttft_s"), p.get("ttft_s_interval")), inside(m.get("decode_tps"), p.get("tg_tps_interval"))
            if m:
                hits["n"] += 1
                hits["ttft"] += a == "yes"
                hits["tps"] += b == "yes"
            print(f"| {p['request']} | {m.get('prompt_tokens')} | {m.get('cached_tokens')} | {m.get('ttft_s')} | "
                  f"{p.get('ttft_s')} {p.get('ttft_s_interval')} | {a} | {m.get('decode_tps')} | {p.get('tg_tps')} "
                  f"{p.get('tg_tps_interval')} | {b} |")
        print(f"\nInside the interval: TTFT {hits['ttft']}/{hits['n']}, decode {hits['tps']}/{hits['n']}.\n")
        print("## Memory per context (MiB)\n\n| n_ctx | server total | server KV | server compute | fit-params total | "
              "vtt total (no overhead) | vtt KV | vtt compute | vtt - server |\n|---|---|---|---|---|---|---|---|---|")
        for lv in jsonl(out / f"memory-{model}.jsonl"):
            s, f, v = lv.get("server", {}), lv.get("fit_params", {}), lv.get("vtt_plan", {})
            mib = lambda x: f"{x / MIB:.1f}" if isinstance(x, (int, float)) else "-"  # noqa: E731
            diff = v.get("total_bytes", 0) - s["total_bytes"] if s.get("total_bytes") else None
            print(f"| {lv['n_ctx']} | {mib(s.get('total_bytes'))} | {mib(s.get('kv_bytes'))} | {mib(s.get('compute_bytes'))} | "
                  f"{mib(f.get('total_bytes'))} | {mib(v.get('total_bytes'))} | {mib(v.get('kv_bytes'))} | "
                  f"{mib(v.get('compute_bytes'))} | {mib(diff)} |")
        stress = [x for x in jsonl(out / f"stress-{model}.jsonl") if "summary" in x]
        pst = next((x for x in mp if x["kind"] == "stress"), {})
        print("\n## Context stress\n")
        for x in jsonl(out / f"stress-{model}.jsonl"):
            if "probe" in x:
                pr = x["probe"]
                print(f"- n_ctx {pr['n_ctx']}: {pr['outcome']} in {pr['seconds']} s {pr.get('error') or ''}")
        if stress:
            s = stress[-1]["summary"]
            print(f"\nLargest context served full: {s['largest_ok']}; first failing {s['first_failing']} ({s['failure']}); "
                  f"vtt predicted (committed) {pst.get('vtt_largest_fit')}, at run time {s['vtt']['largest_fit']}.")
        soak = [x for x in jsonl(out / f"soak-{model}.jsonl") if "soak" in x]
        if soak:
            k = soak[-1]["soak"]
            print(f"\n## Soak\n\nverdict {k['verdict']}; {k.get('requests')} requests; RSS {k.get('rss_mib_per_h')}; "
                  f"GPU {k.get('gpu_mib_per_h')}; decode {k.get('decode_tps_pct_per_h')}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
