"""A model as a project declares it: task, inputs, estimator factory, params, split, gate, search space.

A ``ModelSpec`` is code in the project's repository, versioned with it (P4). The training
pipeline refers to a spec by name, so a run records exactly which definition produced its
model. The spec names its features; their types, ranges and categories come from the
feature views that provide them, resolved once when the project loads (``inputs``), so a
feature is declared in one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from functions.feature_store.definitions import EVENT_TIMESTAMP, Field
from functions.shared.errors import ConfigurationError


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


# The holdout metrics each task computes, and whether higher is better.
METRICS: dict[Task, dict[str, bool]] = {
    Task.CLASSIFICATION: {"accuracy": True, "macro_f1": True, "balanced_accuracy": True},
    Task.REGRESSION: {"rmse": False, "mae": False, "r2": True},
}


@dataclass(frozen=True)
class QualityGate:
    """What a candidate must reach on the holdout to be registered as approvable.

    - ``primary_metric``: the one metric compared with the champion (re-scored on the same
      holdout); the candidate passes when it is no worse than the champion by more than
      ``tolerance`` (in the metric's units);
    - ``floors``: absolute bounds per metric: a minimum for higher-is-better metrics
      (accuracy >= 0.6), a maximum for lower-is-better ones (rmse <= 12.0);
    - ``per_class_floors`` (classification): the F1 each named class must reach; ``"*"``
      applies to every class without a floor of its own.
    """

    primary_metric: str
    floors: Mapping[str, float] = field(default_factory=dict)
    per_class_floors: Mapping[str, float] = field(default_factory=dict)
    tolerance: float = 0.0

    def validate(self, task: Task, model: str, labels: tuple[str, ...]) -> None:
        known = METRICS[task]
        for metric in (self.primary_metric, *self.floors):
            if metric not in known:
                raise ConfigurationError(
                    f"model {model!r}: gate metric {metric!r} is not a {task} metric; use one of {sorted(known)}"
                )
        for metric, bound in self.floors.items():
            if not math.isfinite(bound):
                raise ConfigurationError(f"model {model!r}: gate floor of {metric!r} must be finite, got {bound}")
        if self.per_class_floors and task is not Task.CLASSIFICATION:
            raise ConfigurationError(f"model {model!r}: per_class_floors apply to classification, not {task}")
        for label, floor in self.per_class_floors.items():
            if label != "*" and label not in labels:
                raise ConfigurationError(f"model {model!r}: per_class_floors names unknown class {label!r}")
            if not 0.0 <= floor <= 1.0:
                raise ConfigurationError(f"model {model!r}: per-class F1 floor of {label!r} must be within 0..1")
        if not math.isfinite(self.tolerance) or self.tolerance < 0:
            raise ConfigurationError(f"model {model!r}: gate tolerance must be >= 0, got {self.tolerance}")


# A search's bounds: what one run may try, and how many trials run at once (the Map's MaxConcurrency).
MAX_TRIALS = 1000
MAX_CONCURRENCY = 40


@dataclass(frozen=True)
class SearchSpace:
    """Hyperparameters to search: candidate values per parameter, drawn as a grid or at random.

    - ``params``: each estimator parameter with its finite tuple of candidate values;
    - ``strategy``: ``"grid"`` tries every combination in declaration order (a grid larger than
      ``max_trials`` is a seeded sample of ``max_trials`` of them); ``"random"`` draws ``max_trials``
      distinct combinations with ``seed`` (the model's seed when None);
    - ``max_concurrency``: trials running at once (the training pipeline's Map);
    - ``validation_fraction``: the latest share of the training part that scores the trials; the
      holdout, which judges the final model against the champion, is never seen by any trial;
    - ``on_every_run``: search on every pipeline run; otherwise only when a run asks (``"tune": true``).

    Names and values are checked against the estimator when the project loads (``search.py``).
    """

    params: Mapping[str, tuple[Any, ...]]
    strategy: str = "grid"
    max_trials: int = 8
    max_concurrency: int = 4
    seed: int | None = None
    validation_fraction: float = 0.2
    on_every_run: bool = False

    def validate(self, model: str) -> None:
        if self.strategy not in ("grid", "random"):
            raise ConfigurationError(f"model {model!r}: search_space strategy must be 'grid' or 'random'")
        if not isinstance(self.params, Mapping) or not self.params:
            raise ConfigurationError(f"model {model!r}: search_space declares no parameter to search")
        for name, values in self.params.items():
            if not isinstance(values, (tuple, list)):
                raise ConfigurationError(
                    f"model {model!r}: search_space parameter {name!r} must be a finite tuple of values, "
                    f"got {type(values).__name__}"
                )
            if not values:
                raise ConfigurationError(f"model {model!r}: search_space parameter {name!r} has no value to try")
        for name, bound, top in (("max_trials", self.max_trials, MAX_TRIALS),
                                 ("max_concurrency", self.max_concurrency, MAX_CONCURRENCY)):  # fmt: skip
            if isinstance(bound, bool) or not isinstance(bound, int) or not 1 <= bound <= top:
                raise ConfigurationError(f"model {model!r}: search_space {name} must be within 1..{top}, got {bound!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ConfigurationError(f"model {model!r}: search_space seed must be a whole number, got {self.seed!r}")
        if not isinstance(self.validation_fraction, (int, float)) or not 0.0 < self.validation_fraction < 1.0:
            raise ConfigurationError(f"model {model!r}: search_space validation_fraction must be within (0, 1)")
        if not isinstance(self.on_every_run, bool):
            raise ConfigurationError(f"model {model!r}: search_space on_every_run must be True or False")


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
            raise ConfigurationError(f"label_view {self.label_view!r} must be one of views {self.views}")


@dataclass(frozen=True)
class TrainingWindow:
    """Which labelled rows a retrain reads from the feature store, declared per model.

    - ``TrainingWindow()``: all history (the default);
    - ``TrainingWindow(days=365)``: the last ``days`` before the run's end (the trigger's time, or the
      build's when the run names none), so an old regime ages out;
    - ``TrainingWindow(since="2014-01-01")``: everything from a fixed date (UTC) on.

    ``feedback`` (default True): the model's labelled feedback rows (captured predictions joined with
    their ground truth, ``functions/feature_store/feedback.py``) in the same window join the training set.
    A run's input may still name its own ``start`` (``mlops train --start``): that wins.
    """

    days: int | None = None
    since: str | None = None
    feedback: bool = True

    def validate(self, model: str) -> None:
        if self.days is not None and self.since is not None:
            raise ConfigurationError(f"model {model!r}: training_window takes days or since, not both")
        if self.days is not None and (isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1):
            raise ConfigurationError(
                f"model {model!r}: training_window days must be a whole number of days >= 1, got {self.days!r}"
            )
        if self.since is not None:
            self.since_instant(model)
        if not isinstance(self.feedback, bool):
            raise ConfigurationError(f"model {model!r}: training_window feedback must be True or False")

    def since_instant(self, model: str = "") -> datetime:
        assert self.since is not None
        try:
            parsed = datetime.fromisoformat(str(self.since).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(
                f"model {model!r}: training_window since {self.since!r} is not an ISO date (YYYY-MM-DD)"
            ) from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def start(self, end: datetime) -> datetime | None:
        """The first event time a run ending at ``end`` reads (``None``: all history)."""
        if self.days is not None:
            return end - timedelta(days=self.days)
        if self.since is not None:
            return self.since_instant()
        return None

    def describe(self) -> str:
        history = (
            f"the last {self.days} days" if self.days else f"since {self.since}" if self.since else "all history"
        )
        return history + (", with labelled feedback" if self.feedback else ", without feedback")


Estimator = Any  # a scikit-learn estimator or Pipeline: fit / predict (and classes_ for a classifier)


@dataclass(frozen=True)
class ModelSpec:
    """How to turn a point-in-time training set into a trained, gated model.

    ``estimator`` is a factory: ``estimator(**params)`` returns any scikit-learn estimator
    or ``Pipeline`` (a ``ColumnTransformer`` with one-hot encoding for string features
    works). Every ``random_state`` parameter it exposes is set to ``seed``, so the same
    data and definition give the same artifact bytes. ``labels`` (classification) default
    to the label field's allowed values.
    """

    name: str
    task: Task
    features: tuple[str, ...]
    label: str
    estimator: Callable[..., Estimator]
    feature_store: FeatureStoreInputs
    gate: QualityGate
    params: Mapping[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    holdout_fraction: float = 0.2
    seed: int = 42
    search_space: SearchSpace | None = None
    training_window: TrainingWindow = field(default_factory=TrainingWindow)
    timestamp: str = EVENT_TIMESTAMP
    description: str = ""
    # Resolved when the project loads: the typed field of each feature, from the views that provide it.
    inputs: tuple[Field, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not all(c.islower() or c.isdigit() or c == "-" for c in self.name):
            raise ConfigurationError(f"model name {self.name!r} must be lowercase letters, digits and '-'")
        if not isinstance(self.task, Task):
            try:
                object.__setattr__(self, "task", Task(self.task))
            except ValueError:
                raise ConfigurationError(
                    f"model {self.name!r}: task must be one of {[t.value for t in Task]}, got {self.task!r}"
                ) from None
        if not self.features:
            raise ConfigurationError(f"model {self.name!r} needs at least one feature")
        if len(set(self.features)) != len(self.features):
            raise ConfigurationError(f"model {self.name!r}: a feature is listed twice")
        if self.label in self.features:
            raise ConfigurationError(f"model {self.name!r}: label {self.label!r} is also a feature")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ConfigurationError(f"model {self.name!r}: holdout_fraction must be within (0, 1)")
        if not callable(self.estimator):
            raise ConfigurationError(f"model {self.name!r}: estimator must be a factory returning an estimator")
        if self.search_space is not None:
            self.search_space.validate(self.name)
        # Duck-typed: the local cloud gives each function its own copy of these modules.
        if not callable(getattr(self.training_window, "validate", None)):
            raise ConfigurationError(
                f"model {self.name!r}: training_window must be a TrainingWindow(...), "
                f"got {type(self.training_window).__name__}"
            )
        self.training_window.validate(self.name)

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    @property
    def is_classifier(self) -> bool:
        return self.task is Task.CLASSIFICATION

    def input(self, name: str) -> Field:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise ConfigurationError(f"model {self.name!r} has no resolved input {name!r}")

    def build_estimator(self, overrides: Mapping[str, Any] | None = None) -> Estimator:
        """A fresh, unfitted estimator with the spec's params (and ``overrides``), seeded."""
        estimator = self.estimator(**{**self.params, **(overrides or {})})
        seeded = {name: self.seed for name in estimator.get_params(deep=True) if name.endswith("random_state")}
        if seeded:
            estimator.set_params(**seeded)
        return estimator
