"""Live model quality: predictions joined to ground-truth feedback by prediction id.

Only predictions that have feedback count. The label delay (feedback time
minus prediction time) is reported, since a quality figure over a window is
only as recent as its labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics

from functions.monitoring.captures import PREDICTED_VALUE
from functions.shared.errors import DataValidationError

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class LiveQuality:
    """Quality over the labelled predictions of a window; ``status`` is ``skipped`` below the minimum."""

    task: str
    status: str
    predictions: int
    labelled: int
    unmatched_feedback: int
    metrics: dict[str, float] = field(default_factory=dict)
    label_delay_s: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def live_quality(
    predictions: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    task: str = CLASSIFICATION,
    min_labelled: int = 30,
) -> LiveQuality:
    """Quality of ``predictions`` (prediction_id, timestamp, predicted_label) against ``feedback``.

    ``feedback`` has prediction_id, label, timestamp; when a prediction got
    several labels, the latest one counts. Classification reports accuracy
    and macro F1; regression (labels parse as numbers) MAE and RMSE, of the
    captures' ``predicted_value`` (or of ``predicted_label`` parsed as numbers).
    """
    if task not in (CLASSIFICATION, REGRESSION):
        raise ValueError(f"task must be {CLASSIFICATION!r} or {REGRESSION!r}, got {task!r}")
    predicted_column = (
        PREDICTED_VALUE if task == REGRESSION and PREDICTED_VALUE in predictions.columns else "predicted_label"
    )
    for frame, name, needed in (
        (predictions, "predictions", ("prediction_id", "timestamp", predicted_column)),
        (feedback, "feedback", ("prediction_id", "label", "timestamp")),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataValidationError(f"{name} has no column(s) {', '.join(missing)}")
    latest = feedback.sort_values("timestamp").drop_duplicates("prediction_id", keep="last")
    preds = predictions.drop_duplicates("prediction_id", keep="last")
    joined = preds.merge(latest, on="prediction_id", how="inner", suffixes=("_prediction", "_feedback"))
    unmatched = int((~latest["prediction_id"].isin(preds["prediction_id"])).sum())
    base = {"task": task, "predictions": len(preds), "labelled": len(joined), "unmatched_feedback": unmatched}
    if len(joined) < min_labelled:
        return LiveQuality(
            status="skipped",
            reason=f"{len(joined)} predictions have feedback, fewer than the minimum of {min_labelled}",
            **base,  # type: ignore[arg-type]
        )
    delays = (
        (
            pd.to_datetime(joined["timestamp_feedback"], utc=True)
            - pd.to_datetime(joined["timestamp_prediction"], utc=True)
        )
        .dt.total_seconds()
        .to_numpy()
    )
    label_delay = {
        "median": float(np.median(delays)),
        "p90": float(np.quantile(delays, 0.9)),
        "max": float(np.max(delays)),
    }
    truth, predicted = joined["label"].astype(str).to_numpy(), joined[predicted_column].astype(str).to_numpy()
    if task == CLASSIFICATION:
        scores = {
            "accuracy": float(metrics.accuracy_score(truth, predicted)),
            "f1_macro": float(metrics.f1_score(truth, predicted, average="macro", zero_division=0)),
        }
    else:
        try:
            y_true, y_pred = truth.astype(float), predicted.astype(float)
        except ValueError:
            raise DataValidationError("regression quality needs numeric labels and predictions") from None
        scores = {
            "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
            "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, y_pred))),
        }
    return LiveQuality(status="evaluated", metrics=scores, label_delay_s=label_delay, **base)  # type: ignore[arg-type]
