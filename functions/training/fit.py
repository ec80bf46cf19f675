"""Split, train and evaluate: the pure part of the training pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score, f1_score

from functions.rollout.canary import baseline_metrics, predicted_shares
from functions.shared.errors import DataValidationError
from functions.training.model_spec import ModelSpec


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    holdout: pd.DataFrame


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    macro_f1: float
    per_class_f1: dict[str, float]
    holdout_rows: int
    # Share of each label among the holdout predictions: the baseline a canary is compared with.
    predicted_shares: dict[str, float] = field(default_factory=dict)

    def as_metrics(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1, **baseline_metrics(self.predicted_shares)}


def time_based_split(frame: pd.DataFrame, spec: ModelSpec) -> Split:
    """The latest ``holdout_fraction`` of rows (by time) is the holdout.

    Training on the past and testing on the future is what serving will do;
    a random split would leak future rows into training.
    """
    ordered = frame.sort_values(spec.timestamp, kind="stable")
    cut = round(len(ordered) * (1.0 - spec.holdout_fraction))
    if cut <= 0 or cut >= len(ordered):
        raise DataValidationError(f"cannot split {len(ordered)} rows with holdout fraction {spec.holdout_fraction}")
    return Split(train=ordered.iloc[:cut], holdout=ordered.iloc[cut:])


def train_model(train: pd.DataFrame, spec: ModelSpec) -> ClassifierMixin:
    """Fit the spec's estimator; seeded, so the same data gives the same model."""
    model = spec.build_estimator()
    model.fit(train[spec.feature_names].to_numpy(dtype=float), train[spec.label].astype(str).to_numpy())
    return model


def evaluate_model(model: ClassifierMixin, holdout: pd.DataFrame, spec: ModelSpec) -> Evaluation:
    """Holdout accuracy, macro F1 and F1 per class."""
    truth = holdout[spec.label].astype(str).to_numpy()
    predicted = model.predict(holdout[spec.feature_names].to_numpy(dtype=float))
    classes = list(spec.labels)
    per_class = f1_score(truth, predicted, labels=classes, average=None, zero_division=0)
    return Evaluation(
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(f1_score(truth, predicted, labels=classes, average="macro", zero_division=0)),
        per_class_f1={label: float(score) for label, score in zip(classes, per_class, strict=True)},
        holdout_rows=len(holdout),
        predicted_shares=predicted_shares([str(p) for p in predicted], classes),
    )
