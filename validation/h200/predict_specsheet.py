"""Predict the GPU matrix on the H200 before vtt has measured anything there.

Inputs: the H100 Vulkan calibration (fitted here from validation/gpu/results, the only NVIDIA
data vtt has) and the H200's spec sheet (specs/hardware/h200-141.yaml: 4.8 TB/s HBM3e and the
same Hopper compute, 989 dense FP16 TFLOPS; https://www.nvidia.com/en-us/data-center/h200/).
Efficiencies carry over; the card's bandwidth and FLOPs are the datasheet's.

    .venv/bin/python validation/h200/predict_specsheet.py   # -> validation/h200/predictions_specsheet.jsonl
    .venv/bin/python validation/h200/predict_specsheet.py --prior-only   # -> validation/h200/prior_from_h100.yaml

The transferred calibration is also written as prior_from_h100.yaml: the prior the quick
calibration on the H200 starts from (the GPU machine has no scipy to refit the H100 rows).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import common


def main() -> None:
    from vtt.specs.catalog import default_world

    tmp = Path(tempfile.mkdtemp(prefix="vtt-h200-spec-"))
    world = default_world()
    h100 = common.h100_calibration(world, tmp)
    cal = common.transfer(h100, common.HARDWARE, "h200-141--vulkan-nvidia--from-h100-specsheet")
    from vtt.calibration import write_calibration_yaml

    write_calibration_yaml(cal, common.HERE / "prior_from_h100.yaml",
                           "# The H100 Vulkan calibration (validation/gpu, all steady rows) carried to the H200's spec\n"
                           "# sheet: written by validation/h200/predict_specsheet.py. Do not edit by hand.\n")
    if "--prior-only" in sys.argv:
        return
    n = common.predict_matrix(cal, common.HERE / "predictions_specsheet.jsonl", tag="specsheet", header_dir=tmp)
    print(f"{n} predictions -> validation/h200/predictions_specsheet.jsonl (H100 params: "
          + ", ".join(f"{k}={v:.3g}" for k, v in h100.params.items()) + ")")


if __name__ == "__main__":
    main()
