"""Validate a raw table against a ``ModelSpec`` before anything trains on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from functions.feature_store.definitions import ValueType
from functions.shared.errors import DataValidationError
from functions.training.model_spec import ModelSpec


@dataclass(frozen=True)
class DatasetSummary:
    rows: int
    start: str
    end: str
    label_counts: dict[str, int]


def validate_training_frame(frame: pd.DataFrame, spec: ModelSpec, *, min_rows: int = 50) -> pd.DataFrame:
    """Return ``frame`` typed and sorted by time, or raise naming what is wrong.

    The whole table is rejected on the first class of problem found: a
    training set with broken rows is not trained on (quarantine of single
    rows belongs to the feature pipeline, which runs before this).
    """
    required = [spec.timestamp, spec.label, *spec.feature_names]
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise DataValidationError(f"missing columns: {', '.join(missing)}")
    if len(frame) < min_rows:
        raise DataValidationError(f"{len(frame)} rows, at least {min_rows} are needed to train")

    typed = frame[required].copy()
    typed[spec.timestamp] = pd.to_datetime(typed[spec.timestamp], utc=True, errors="coerce")
    for column in spec.inputs:
        if column.dtype in (ValueType.FLOAT64, ValueType.INT64):
            typed[column.name] = pd.to_numeric(typed[column.name], errors="coerce")
        elif column.dtype is ValueType.STRING:
            typed[column.name] = typed[column.name].astype("string")
    if not spec.is_classifier:
        typed[spec.label] = pd.to_numeric(typed[spec.label], errors="coerce")
    for name in required:
        bad = int(typed[name].isna().sum())
        if bad:
            raise DataValidationError(f"column {name!r}: {bad} null or unparseable values")
    for column in spec.inputs:
        if column.dtype in (ValueType.FLOAT64, ValueType.INT64):
            values = typed[column.name].to_numpy(dtype=float)
            low = -np.inf if column.minimum is None else column.minimum
            high = np.inf if column.maximum is None else column.maximum
            out = int(((values < low) | (values > high) | ~np.isfinite(values)).sum())
            if out:
                raise DataValidationError(f"column {column.name!r}: {out} values outside [{low}, {high}] or not finite")
        elif column.allowed is not None:
            unknown_values = sorted(set(typed[column.name].astype(str)) - set(column.allowed))
            if unknown_values:
                raise DataValidationError(f"column {column.name!r}: values {unknown_values[:5]} are not allowed")
    if spec.is_classifier:
        unknown = sorted(set(typed[spec.label].astype(str)) - set(spec.labels))
        if unknown:
            raise DataValidationError(f"column {spec.label!r}: unknown labels {unknown}")
        if typed[spec.label].nunique() < 2:
            raise DataValidationError(f"column {spec.label!r}: a single class, nothing to learn")
    elif not np.isfinite(typed[spec.label].to_numpy(dtype=float)).all():
        raise DataValidationError(f"column {spec.label!r}: non-finite target values")
    return typed.sort_values(spec.timestamp, kind="stable").reset_index(drop=True)


def summarize(frame: pd.DataFrame, spec: ModelSpec) -> DatasetSummary:
    counts = frame[spec.label].astype(str).value_counts().sort_index() if spec.is_classifier else pd.Series()
    return DatasetSummary(
        rows=len(frame),
        start=frame[spec.timestamp].min().isoformat(),
        end=frame[spec.timestamp].max().isoformat(),
        label_counts={str(k): int(v) for k, v in counts.items()},
    )
