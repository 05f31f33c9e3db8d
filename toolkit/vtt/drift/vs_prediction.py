"""Check measurements against vtt's own predictions: is each measured t/s inside the predicted band?

Generic over the predictor: `predict_fn(row) -> (predicted_tps, lo_tps, hi_tps)` (None to skip a row).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Callable

from vtt.drift.compare import bench_test_name, sample_tps
from vtt.errors import VttError

PredictFn = Callable[[dict], "tuple[float, float, float] | None"]


@dataclass
class PredictionCheck:
    test: str
    model: str | None
    measured_tps: float
    predicted_tps: float
    lo_tps: float
    hi_tps: float
    error: float  # measured / predicted - 1
    verdict: str  # within, slower_than_predicted, faster_than_predicted

    def to_dict(self) -> dict:
        return asdict(self)


def check_against_prediction(results: list[dict], predict_fn: PredictFn) -> list[PredictionCheck]:
    checks = []
    for row in results:
        tps = sample_tps(row)
        predicted = predict_fn(row) if tps else None
        if predicted is None:
            continue
        mid, lo, hi = (float(x) for x in predicted)
        measured = statistics.median(tps)
        verdict = "within" if lo <= measured <= hi else (
            "slower_than_predicted" if measured < lo else "faster_than_predicted")
        checks.append(PredictionCheck(bench_test_name(row), row.get("model_filename") or row.get("model_type"),
                                      measured, mid, lo, hi, measured / mid - 1.0 if mid else float("nan"),
                                      verdict))
    return checks


def default_predict_fn() -> PredictFn:
    """vtt.calibrate.predict_rows.predict_rows(rows) -> [(tps, lo, hi) | None, ...], wrapped per row."""
    try:
        from vtt.calibrate.predict_rows import predict_rows
    except ImportError:
        raise VttError("the cost model cannot predict llama-bench rows yet (vtt.calibrate.predict_rows missing)",
                       code="no_cost_model", hint="run vtt drift without --against-prediction") from None

    def predict(row: dict):
        out = predict_rows([row])
        return out[0] if out else None

    return predict
