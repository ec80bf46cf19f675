"""Batch prediction over a table: every input row comes out, predicted or marked invalid with a reason.

Also, pure: the checks of an entity file (the rows a batch scores through the offline point-in-time
join) and the capture records of a scored partition (what the monitor reads, marked as batch traffic).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from functions.feature_store.definitions import EVENT_TIMESTAMP
from functions.feature_store.point_in_time import to_utc
from functions.serving.capture_format import capture_record
from functions.serving.predictor import SKLEARN, Predictions, Predictor
from functions.serving.signature import NUMERIC_DTYPES, FeatureSignature, ModelSignature, value_problem
from functions.shared.errors import DataValidationError

# What marks a capture record as batch traffic (the endpoint's records carry no source).
BATCH_SOURCE = "batch"
# Batch prediction ids are derived from (run, partition, row), so a retried partition captures the same ids.
_PREDICTION_IDS = uuid.UUID("5f1c3c1e-6d2a-4f7b-9a53-8b0e7c2d4a10")


@dataclass(frozen=True)
class ScoredFrame:
    """A partition's output rows, the model's predictions of its valid rows, and which rows those are."""

    frame: pd.DataFrame
    predictions: Predictions | None
    valid: np.ndarray


# What a row's value of each dtype failed to be, in an INVALID row's reason.
_EXPECTED = {
    "float": "non-numeric, null or non-finite",
    "int": "not an integer, null or non-finite",
    "string": "not a string, or null",
    "bool": "not true/false, or null",
}


def predict_frame(
    frame: pd.DataFrame,
    model: Any,
    signature: ModelSignature,
    model_name: str,
    version: int,
    *,
    source_key: str,
    runtime: str = SKLEARN,
) -> pd.DataFrame:
    """Predictions for ``frame``, one output row per input row, in input order (see ``score_frame``)."""
    return score_frame(frame, model, signature, model_name, version, source_key=source_key, runtime=runtime).frame


def score_frame(
    frame: pd.DataFrame,
    model: Any,
    signature: ModelSignature,
    model_name: str,
    version: int,
    *,
    source_key: str,
    runtime: str = SKLEARN,
    run_id: str | None = None,
) -> ScoredFrame:
    """Predictions for ``frame``, one output row per input row, in input order.

    A missing feature column fails the partition (the data is not what the
    model takes). A row with a value its feature's dtype does not admit (the
    request rules: a finite number, integral for ``int``, not a boolean; a
    string; a boolean; never null) is kept, marked ``status = INVALID`` with
    the columns named, and not predicted. A classification fills
    ``prediction`` (the label) and ``probability`` (the label's); a
    regression fills ``prediction`` with the predicted value. With ``run_id``,
    every predicted row gets a ``prediction_id`` (``batch_prediction_id``).
    """
    names = signature.names
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataValidationError(f"{source_key}: missing feature columns {missing}")
    checked = {f.name: _checked(frame[f.name], f) for f in signature.features}
    bad: np.ndarray = np.column_stack([~ok for _, ok in checked.values()])
    valid = ~np.asarray(bad.any(axis=1), dtype=bool)
    expected = [f"{f.name} ({_EXPECTED.get(f.dtype, 'invalid')})" for f in signature.features]
    reasons = [
        "" if ok else "invalid: " + ", ".join(e for e, wrong in zip(expected, row, strict=True) if wrong)
        for ok, row in zip(valid.tolist(), bad.tolist(), strict=True)
    ]
    out = frame.reset_index(drop=True).copy()
    out["status"] = np.where(valid, "OK", "INVALID")
    out["reason"] = reasons
    if signature.is_regression:
        out["prediction"] = np.nan
    else:
        out["prediction"] = pd.Series([None] * len(out), dtype=object)
        out["probability"] = np.nan
    predictions = None
    if valid.any():
        predictions = Predictor(model, signature, runtime=runtime).predict(
            {name: values[valid] for name, (values, _) in checked.items()}
        )
        if predictions.regression:
            out.loc[valid, "prediction"] = np.asarray(predictions.values, dtype=float)
        else:
            out.loc[valid, "prediction"] = list(predictions.labels)
            assert predictions.probabilities is not None
            out.loc[valid, "probability"] = predictions.probabilities.max(axis=1)
    out["model_name"] = model_name
    out["model_version"] = version
    out["source_key"] = source_key
    if run_id is not None:
        out["prediction_id"] = [
            batch_prediction_id(run_id, source_key, row) if ok else None for row, ok in enumerate(valid.tolist())
        ]
    return ScoredFrame(out, predictions, valid)


def batch_prediction_id(run_id: str, source_key: str, row: int) -> str:
    """The id of row ``row`` of partition ``source_key`` in batch run ``run_id`` (a UUID, the same on a retry).

    Not an id the endpoint issued: ``POST /feedback`` refuses it (ground truth joins endpoint predictions).
    """
    return str(uuid.uuid5(_PREDICTION_IDS, f"{run_id}/{source_key}/{row}"))


def capture_records(scored: ScoredFrame, signature: ModelSignature, *, at: datetime) -> list[dict[str, Any]]:
    """The capture records of a scored partition's predicted rows, as the endpoint writes them, marked as batch.

    ``features`` are the values the model saw (JSON's types: numbers, strings, booleans); ``at`` is the
    batch run's start, so a retried partition writes the same records.
    """
    if scored.predictions is None:
        return []
    rows = np.flatnonzero(scored.valid)
    frame = scored.frame.iloc[rows]
    features = json.loads(frame[list(signature.names)].to_json(orient="records", double_precision=15))
    ids, names, versions = frame["prediction_id"], frame["model_name"], frame["model_version"]
    return [
        capture_record(
            prediction_id=str(prediction_id),
            model_name=str(name),
            model_version=int(version),
            features=values,
            prediction=scored.predictions.answer(index),
            at=at,
            source=BATCH_SOURCE,
        )
        for index, (prediction_id, name, version, values) in enumerate(zip(ids, names, versions, features, strict=True))
    ]


def check_entities(entities: pd.DataFrame, join_keys: Sequence[str], *, source: str) -> pd.DataFrame:
    """An entity file's rows (join keys + ``event_timestamp``), checked; a one-line error naming what is wrong.

    The timestamps must all parse (naive ones are UTC); a row with a null key stays (the join matches it
    to nothing, so its features are null and its output row is ``INVALID`` with the reason).
    """
    needed = [*join_keys, EVENT_TIMESTAMP]
    missing = [column for column in needed if column not in entities.columns]
    if missing:
        raise DataValidationError(f"entity file {source} has no column(s) {missing}; it needs {needed}")
    if entities.empty:
        raise DataValidationError(f"entity file {source} has no rows")
    checked = entities[needed].reset_index(drop=True)
    checked[EVENT_TIMESTAMP] = to_utc(checked[EVENT_TIMESTAMP], what=f"entity file {source}: {EVENT_TIMESTAMP}")
    return checked


def _checked(column: pd.Series, feature: FeatureSignature) -> tuple[np.ndarray, np.ndarray]:
    """(values as the model takes them, which rows are valid) of one feature column."""
    if (
        feature.dtype in NUMERIC_DTYPES
        and pd.api.types.is_numeric_dtype(column)
        and not (pd.api.types.is_bool_dtype(column))
    ):
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(numbers)
        if feature.dtype == "int":
            ok &= np.where(ok, np.round(numbers) == numbers, False) & (np.abs(numbers) < 2.0**63)
            return np.where(ok, numbers, 0).astype(np.int64), ok
        return numbers, ok
    # Object (or string, or boolean) columns: each value by the request's rule.
    raw = column.to_numpy(dtype=object, na_value=None)
    ok = np.array([value_problem(_plain(v), feature.dtype) is None for v in raw], dtype=bool)
    if feature.dtype == "float":
        return np.array([float(v) if good else np.nan for v, good in zip(raw, ok, strict=True)]), ok
    if feature.dtype == "int":
        return np.array([int(v) if good else 0 for v, good in zip(raw, ok, strict=True)], dtype=np.int64), ok
    if feature.dtype == "bool":
        return np.array([bool(v) if good else False for v, good in zip(raw, ok, strict=True)], dtype=bool), ok
    return np.array([str(v) if good else "" for v, good in zip(raw, ok, strict=True)], dtype=object), ok


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON would have given (so one rule checks both)."""
    return value.item() if isinstance(value, np.generic) else value
