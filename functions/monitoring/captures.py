"""The prediction-capture and feedback JSON Lines formats, parsed and validated.

Capture record (one per prediction)::

    {"prediction_id": str, "timestamp": ISO-8601 UTC, "model_name": str, "model_version": int,
     "features": {name: number or string},
     "prediction": {"label": str, "probabilities": {label: float}}   (classification)
                or {"value": number}                                  (regression)}

Serving writes a request's records as capture lines, ``{"mlops_capture": "v1", "records": [record,
...]}`` (``functions/serving/capture_format.py``), which reach the Captures bucket one per line; a line that
is a bare record (objects written before capture went through the log) is read too.

A bool feature is captured as its category text, ``"true"`` or ``"false"`` (the key the
drift baseline counts it under). Parsed, a classification has ``predicted_label``, a
regression ``predicted_value``.

Feedback line (ground truth, ``POST /feedback``)::

    {"prediction_id": str, "label": str (a class) or number (a regression's true value), "timestamp": ISO-8601 UTC}

A malformed line is never dropped silently: it is returned as a ``Rejected``
line naming its source, line number and what is wrong, for quarantine.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from functions.serving.capture_format import CAPTURE_MARKER, CAPTURE_SHAPE

CAPTURE_COLUMNS = ("prediction_id", "timestamp", "model_name", "model_version", "predicted_label")
PREDICTED_VALUE = "predicted_value"
FEEDBACK_COLUMNS = ("prediction_id", "label", "timestamp")


@dataclass(frozen=True)
class Rejected:
    """A line that does not follow its format."""

    source: str
    line: int
    reason: str
    text: str


def _timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be an ISO-8601 string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{field} must carry a time zone (UTC)")
    return parsed.astimezone(UTC)


def _capture_row(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise ValueError("line is not a JSON object")
    prediction_id = record.get("prediction_id")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise ValueError("prediction_id must be a non-empty string")
    features = record.get("features")
    if not isinstance(features, dict) or not features:
        raise ValueError("features must be a non-empty object")
    for name, value in features.items():
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"feature {name!r} must be a number or a string")
    prediction = record.get("prediction")
    if not isinstance(prediction, dict):
        raise ValueError("prediction must be an object")
    if "value" in prediction:
        value = prediction["value"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("prediction.value must be a finite number")
        predicted: dict[str, Any] = {PREDICTED_VALUE: float(value)}
    elif isinstance(prediction.get("label"), str):
        predicted = {"predicted_label": prediction["label"]}
    else:
        raise ValueError("prediction.label must be a string (or prediction.value a number)")
    version = record.get("model_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError("model_version must be an integer")
    model_name = record.get("model_name")
    if not isinstance(model_name, str) or not model_name:
        raise ValueError("model_name must be a non-empty string")
    return {
        "prediction_id": prediction_id,
        "timestamp": _timestamp(record.get("timestamp"), "timestamp"),
        "model_name": model_name,
        "model_version": version,
        **predicted,
        **{f"feature:{name}": value for name, value in features.items()},
    }


def _feedback_row(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise ValueError("line is not a JSON object")
    prediction_id, label = record.get("prediction_id"), record.get("label")
    if not isinstance(prediction_id, str) or not prediction_id:
        raise ValueError("prediction_id must be a non-empty string")
    numeric = isinstance(label, int | float) and not isinstance(label, bool) and math.isfinite(label)
    if not isinstance(label, str) and not numeric:
        raise ValueError("label must be a string or a finite number")
    return {
        "prediction_id": prediction_id,
        "label": label,
        "timestamp": _timestamp(record.get("timestamp"), "timestamp"),
    }


def _records(document: Any) -> list[tuple[str, Any]]:
    """The capture records of one line, each with where it sits in the line (for a rejection's reason)."""
    if not isinstance(document, dict) or CAPTURE_MARKER not in document:
        return [("", document)]
    if document[CAPTURE_MARKER] != CAPTURE_SHAPE:
        raise ValueError(f"{CAPTURE_MARKER} must be {CAPTURE_SHAPE!r}, got {document[CAPTURE_MARKER]!r}")
    records = document.get("records")
    if not isinstance(records, list):
        raise ValueError("records must be a list")
    return [(f"records[{index}]: ", record) for index, record in enumerate(records)]


def _parse(
    text: str, source: str, row: Any, columns: tuple[str, ...], *, records: Any = lambda d: [("", d)]
) -> tuple[pd.DataFrame, list[Rejected]]:
    rows: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items = records(json.loads(line))
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            rejected.append(Rejected(source=source, line=number, reason=str(exc), text=line[:500]))
            continue
        for where, item in items:
            try:
                rows.append(row(item))
            except (ValueError, TypeError) as exc:
                rejected.append(Rejected(source=source, line=number, reason=f"{where}{exc}", text=line[:500]))
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(columns))
    return frame, rejected


def parse_captures(text: str, source: str) -> tuple[pd.DataFrame, list[Rejected]]:
    """Capture lines (or bare records) -> one row per prediction; feature columns are named ``feature:<name>``."""
    return _parse(text, source, _capture_row, CAPTURE_COLUMNS, records=_records)


def parse_feedback(text: str, source: str) -> tuple[pd.DataFrame, list[Rejected]]:
    """Feedback lines -> one row per label."""
    return _parse(text, source, _feedback_row, FEEDBACK_COLUMNS)


def drift_sample(captures: pd.DataFrame, rate: float) -> pd.DataFrame:
    """The share ``rate`` of ``captures`` the drift statistics read: every prediction is captured, and sampling
    happens here, downstream. A row is in when its prediction id hashes below ``rate`` (sha256), so the same
    predictions are chosen on every re-run of a window and across windows."""
    if rate >= 1.0 or captures.empty:
        return captures
    threshold = int(rate * 2**32)
    keep = [int.from_bytes(hashlib.sha256(str(pid).encode()).digest()[:4], "big") < threshold
            for pid in captures["prediction_id"]]  # fmt: skip
    return captures[keep]


def feature_frame(captures: pd.DataFrame) -> pd.DataFrame:
    """The feature columns of parsed captures, under their feature names."""
    columns = [c for c in captures.columns if c.startswith("feature:")]
    return captures[columns].rename(columns=lambda c: c.removeprefix("feature:"))


def predicted_outcomes(captures: pd.DataFrame, *, regression: bool) -> list[Any]:
    """The captured predictions in row order: labels, or values for a regression (empty without rows)."""
    column = PREDICTED_VALUE if regression else "predicted_label"
    if captures.empty or column not in captures.columns:
        return []
    values = captures[column].dropna()
    return [float(v) for v in values] if regression else [str(v) for v in values]
