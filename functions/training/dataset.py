"""Validate a raw table against a ``ModelSpec`` before anything trains on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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
    for column in spec.features:
        typed[column.name] = pd.to_numeric(typed[column.name], errors="coerce")
    for name in required:
        bad = int(typed[name].isna().sum())
        if bad:
            raise DataValidationError(f"column {name!r}: {bad} null or unparseable values")
    for column in spec.features:
        values = typed[column.name].to_numpy(dtype=float)
        out = int(((values < column.minimum) | (values > column.maximum) | ~np.isfinite(values)).sum())
        if out:
            raise DataValidationError(
                f"column {column.name!r}: {out} values outside [{column.minimum}, {column.maximum}]"
            )
    unknown = sorted(set(typed[spec.label].astype(str)) - set(spec.labels))
    if unknown:
        raise DataValidationError(f"column {spec.label!r}: unknown labels {unknown}")
    if typed[spec.label].nunique() < 2:
        raise DataValidationError(f"column {spec.label!r}: a single class, nothing to learn")
    return typed.sort_values(spec.timestamp, kind="stable").reset_index(drop=True)


def summarize(frame: pd.DataFrame, spec: ModelSpec) -> DatasetSummary:
    counts = frame[spec.label].astype(str).value_counts().sort_index()
    return DatasetSummary(
        rows=len(frame),
        start=frame[spec.timestamp].min().isoformat(),
        end=frame[spec.timestamp].max().isoformat(),
        label_counts={str(k): int(v) for k, v in counts.items()},
    )
