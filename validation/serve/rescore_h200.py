"""The H200 llama-server mode requests (results-h200/) re-asked with the shipped H200 quick calibration,
which was fitted on llama-bench and operator rows only, never on a server run. The predictions in
predictions.jsonl were made before any H200 calibration existed (physics defaults); this is the same
question with what vtt knows now.

    .venv/bin/python validation/serve/rescore_h200.py      # a markdown table on stdout
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import models  # noqa: E402  (the same generated chat model, header only)


def main() -> list[str]:
    from vtt.plan import plan_many

    path = models.write(tempfile.mkdtemp(prefix="vtt-serve-"), "chat-1b-f16")
    rows = [json.loads(x) for x in (HERE / "results-h200" / "modes-chat-1b-f16.jsonl").read_text().splitlines()]
    # the server's prompt_tokens count the cached prefix too; vtt's request takes the new tokens
    qs = [{"model": str(path), "hardware": "h200-141", "backend": "vulkan-nvidia", "request": True,
           "cached_tokens": r["cached_tokens"], "prompt_tokens": r["prompt_tokens"] - r["cached_tokens"],
           "output_tokens": r["output_tokens"]} for r in rows]
    out = ["| request | cached | new | TTFT s measured | vtt [90 %] | in? | decode t/s measured | vtt [90 %] | in? |",
           "|---|---|---|---|---|---|---|---|---|"]
    n_ttft = n_tg = 0
    for r, a in zip(rows, plan_many(qs)):
        lo, hi = a["ttft_s_interval"]
        tlo, thi = a["tg_tps_interval"]
        in_t, in_g = lo <= r["ttft_s"] <= hi, tlo <= r["decode_tps"] <= thi
        n_ttft += in_t
        n_tg += in_g
        out.append(f"| {r['request']} | {r['cached_tokens']} | {r['prompt_tokens'] - r['cached_tokens']} | {r['ttft_s']:.3f} | "
                   f"{a['ttft_s']:.3f} [{lo:.3f}, {hi:.3f}] | {'yes' if in_t else 'no'} | {r['decode_tps']:.0f} | "
                   f"{a['tg_tps']:.0f} [{tlo:.0f}, {thi:.0f}] | {'yes' if in_g else 'no'} |")
    out.append("")
    out.append(f"Inside the interval: TTFT {n_ttft}/{len(rows)}, decode {n_tg}/{len(rows)} (calibration {a['calibration']}).")
    return out


if __name__ == "__main__":
    print("\n".join(main()))
