"""Score the shipped H200 calibration (specs/calibrations/h200-141/vulkan-nvidia.yaml) with today's
speed model against the H200 matrix rows of the first session (validation/h200/results/matrix.jsonl):
what a change to vtt.cost does to the one non-Strix calibration that ships.

    .venv/bin/python validation/kind_physics/h200_shipped.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
H200 = HERE.parent / "h200"
sys.path.insert(0, str(H200))
import analyze  # noqa: E402
import common  # noqa: E402


def main() -> None:
    from vtt.calibration import load_calibration_file

    cal = load_calibration_file(HERE.parent.parent / "specs" / "calibrations" / "h200-141" / "vulkan-nvidia.yaml")
    tmp = Path(tempfile.mkdtemp(prefix="vtt-h200-shipped-"))
    common.predict_matrix(cal, tmp / "pred.jsonl", tag="shipped", header_dir=tmp)
    preds = {analyze.key(p): p for p in analyze.read_jsonl(tmp / "pred.jsonl")}
    sc = analyze.score(analyze.measured(H200 / "results", "matrix"), preds)
    for k, v in sorted(sc["err"].items()):
        print(f"{k[0]} {k[1]:10s} median {statistics.median(v):5.1f} % (n={len(v)})")
    for t, v in sorted(sc["cover"].items()):
        print(f"{t} coverage {100 * sum(v) / len(v):.0f} %")


if __name__ == "__main__":
    main()
