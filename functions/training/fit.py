"""Split, train and evaluate: the pure part of the training pipeline."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)

from functions.feature_store.definitions import ValueType
from functions.rollout.canary import baseline_metrics, predicted_range, predicted_shares, range_metrics
from functions.shared.errors import DataValidationError
from functions.training.model_spec import ModelSpec, Task

_NUMERIC = (ValueType.FLOAT64, ValueType.INT64)


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    holdout: pd.DataFrame


@dataclass(frozen=True)
class Evaluation:
    """Holdout quality of one model (``quality``: the task's metrics), and the canary's baseline."""

    quality: dict[str, float]
    holdout_rows: int
    per_class_f1: dict[str, float] = field(default_factory=dict)
    # Share of each label among the holdout predictions: the baseline a canary is compared with.
    predicted_shares: dict[str, float] = field(default_factory=dict)
    # A regressor's: the 5th and 95th percentiles of its holdout predictions (p05, p95).
    predicted_range: dict[str, float] = field(default_factory=dict)

    def as_metrics(self) -> dict[str, float]:
        """What the registry records with the version: quality metrics, then the canary baseline."""
        return {**self.quality, **baseline_metrics(self.predicted_shares), **range_metrics(self.predicted_range)}


def model_input(frame: pd.DataFrame, spec: ModelSpec) -> Any:
    """The estimator's input for ``frame``: the one rule every fit, score and prediction goes through.

    All-numeric models take a float matrix (what ONNX's single tensor input serves); a model
    with string or bool features takes the DataFrame of its features, columns by name, so a
    ``ColumnTransformer`` can pick and encode them.
    """
    if all(f.dtype in _NUMERIC for f in spec.inputs):
        return frame[spec.feature_names].to_numpy(dtype=float)
    return frame[spec.feature_names]


def target(frame: pd.DataFrame, spec: ModelSpec) -> np.ndarray:
    if spec.is_classifier:
        return frame[spec.label].astype(str).to_numpy()
    return frame[spec.label].to_numpy(dtype=float)


def time_based_split(frame: pd.DataFrame, spec: ModelSpec, fraction: float | None = None) -> Split:
    """The latest ``fraction`` of rows (by time; default the spec's ``holdout_fraction``) is the holdout.

    Training on the past and testing on the future is what serving will do;
    a random split would leak future rows into training. A search splits the train
    part again the same way (``fraction``: its ``validation_fraction``).
    """
    fraction = spec.holdout_fraction if fraction is None else fraction
    ordered = frame.sort_values(spec.timestamp, kind="stable")
    cut = round(len(ordered) * (1.0 - fraction))
    if cut <= 0 or cut >= len(ordered):
        raise DataValidationError(f"cannot split {len(ordered)} rows with holdout fraction {fraction}")
    return Split(train=ordered.iloc[:cut], holdout=ordered.iloc[cut:])


def train_model(train: pd.DataFrame, spec: ModelSpec, overrides: dict[str, Any] | None = None) -> Any:
    """Fit the spec's estimator; seeded, so the same data gives the same model."""
    model = spec.build_estimator(overrides)
    model.fit(model_input(train, spec), target(train, spec))
    return model


def evaluate_model(model: Any, holdout: pd.DataFrame, spec: ModelSpec) -> Evaluation:
    """The task's holdout metrics (classification: accuracy, macro and per-class F1; regression: rmse, mae, r2)."""
    truth = target(holdout, spec)
    predicted = np.asarray(model.predict(model_input(holdout, spec)))
    if spec.task is Task.REGRESSION:
        predicted = predicted.astype(float).ravel()
        r2 = float(r2_score(truth, predicted)) if len(truth) > 1 else float("nan")
        return Evaluation(
            quality={
                "rmse": float(math.sqrt(mean_squared_error(truth, predicted))),
                "mae": float(mean_absolute_error(truth, predicted)),
                "r2": r2 if math.isfinite(r2) else 0.0,
            },
            holdout_rows=len(holdout),
            predicted_range=predicted_range(list(predicted)),
        )
    classes = list(spec.labels)
    per_class = f1_score(truth, predicted, labels=classes, average=None, zero_division=0)
    return Evaluation(
        quality={
            "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, labels=classes, average="macro", zero_division=0)),
            "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
        },
        holdout_rows=len(holdout),
        per_class_f1={label: float(score) for label, score in zip(classes, per_class, strict=True)},
        predicted_shares=predicted_shares([str(p) for p in predicted], classes),
    )
