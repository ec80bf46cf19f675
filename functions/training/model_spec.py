"""The model definition a data scientist edits: data schema, features, estimator.

A ``ModelSpec`` is code in the repository, versioned with it (P4). The training
pipeline refers to a spec by name, so a run records exactly which definition
produced its model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier


@dataclass(frozen=True)
class NumericColumn:
    """A numeric input column and the range a valid value must fall in."""

    name: str
    minimum: float
    maximum: float


@dataclass(frozen=True)
class FeatureStoreInputs:
    """Where a model's training set comes from in the feature store.

    ``views`` are joined point-in-time onto the entity rows; without an entity
    file, the entity rows are the events of ``label_view`` (its join keys and
    event times), which is how a label that lives in the store becomes a
    training example. Spec columns are found by name among the views' features;
    the spec's timestamp column is the entity row's ``event_timestamp``.
    """

    views: tuple[str, ...]
    label_view: str
    strict: bool = False

    def __post_init__(self) -> None:
        if self.label_view not in self.views:
            raise ValueError(f"label_view {self.label_view!r} must be one of views {self.views}")


@dataclass(frozen=True)
class ModelSpec:
    """How to turn a table into a trained classifier."""

    name: str
    timestamp: str
    label: str
    features: tuple[NumericColumn, ...]
    labels: tuple[str, ...]
    estimator: Callable[..., ClassifierMixin]
    params: dict[str, Any] = field(default_factory=dict)
    holdout_fraction: float = 0.2
    seed: int = 42
    feature_store: FeatureStoreInputs | None = None

    @property
    def feature_names(self) -> list[str]:
        return [column.name for column in self.features]

    def build_estimator(self) -> ClassifierMixin:
        return self.estimator(**self.params, random_state=self.seed)


SEATTLE_WEATHER = ModelSpec(
    name="seattle-weather",
    timestamp="date",
    label="weather",
    # Physical bounds, generous on purpose: they catch unit mistakes and
    # corrupt rows, not unusual weather.
    features=(
        NumericColumn("precipitation", 0.0, 500.0),
        NumericColumn("temp_max", -40.0, 50.0),
        NumericColumn("temp_min", -50.0, 45.0),
        NumericColumn("wind", 0.0, 60.0),
    ),
    labels=("drizzle", "fog", "rain", "snow", "sun"),
    estimator=RandomForestClassifier,
    params={"n_estimators": 100, "min_samples_leaf": 3, "n_jobs": 1},
    # The feature store's daily_weather view holds the four features and the label.
    feature_store=FeatureStoreInputs(views=("daily_weather:v1",), label_view="daily_weather:v1"),
)

MODEL_SPECS: dict[str, ModelSpec] = {SEATTLE_WEATHER.name: SEATTLE_WEATHER}


def model_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``."""
    try:
        return MODEL_SPECS[name]
    except KeyError:
        raise KeyError(f"unknown model spec {name!r}; known: {', '.join(sorted(MODEL_SPECS))}") from None
