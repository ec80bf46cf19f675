"""A project: everything specific to one ML problem, declared in the user's own repository.

A ``Project`` holds raw sources, entities, feature views (each with its versioned rule) and
models. It is checked as a whole when it is built: names are unique, every view reads a
declared source, every model feature and label is provided by one of the model's views with
a type its task can use, every gate metric belongs to the model's task and the estimator
factory builds an estimator. Each model comes back with its inputs resolved (the typed
field of every feature), so the rest of the toolkit never looks a feature up twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from functions.feature_store.definitions import Entity, FeatureView, Field, RawSource, ValueType
from functions.feature_store.feedback import feedback_view
from functions.shared.errors import ConfigurationError
from functions.training.model_spec import ModelSpec, Task
from functions.training.search import check_search_space

_NUMERIC = (ValueType.FLOAT64, ValueType.INT64)


@dataclass(frozen=True)
class DemoScenario:
    """How ``mlops demo`` exercises a project on the local cloud.

    ``data`` (relative to the project's folder) is backfilled into ``source``; the rows from
    ``traffic_from`` on (raw timestamp) are sent as prediction traffic to ``model`` with each
    ``shift`` added to its feature, to show drift being found, alarmed on and retrained on.
    """

    source: str
    data: str
    traffic_from: str
    shift: Mapping[str, float] = field(default_factory=dict)
    model: str = ""


@dataclass(frozen=True)
class Project:
    """Sources, entities, views and models of one ML problem; checked as a whole when built."""

    name: str
    sources: Sequence[RawSource]
    feature_views: Sequence[FeatureView]
    models: Sequence[ModelSpec]
    entities: Sequence[Entity] = ()
    demo: DemoScenario | None = None
    description: str = ""
    # Set by the loader: the folder the project was loaded from (sample data paths are relative to it).
    root: Path | None = None

    def __post_init__(self) -> None:
        for name in ("sources", "feature_views", "models", "entities"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.name or not self.name.replace("-", "_").isidentifier():
            raise ConfigurationError(f"project name {self.name!r} must be letters, digits, '_' or '-'")
        _unique("raw source", [s.name for s in self.sources])
        _unique("feature view", [v.qualified_name for v in self.feature_views])
        _unique("model", [m.name for m in self.models])
        if not self.models:
            raise ConfigurationError(f"project {self.name!r} declares no model")
        sources = {s.name for s in self.sources}
        for view in self.feature_views:
            if view.source not in sources:
                raise ConfigurationError(
                    f"feature view {view.qualified_name!r}: source {view.source!r} is not a declared raw source; "
                    f"declared: {sorted(sources)}"
                )
        entities = {e.name: e for e in self.entities}
        for view in self.feature_views:
            for entity in view.entities:
                if entity.name in entities and entities[entity.name] != entity:
                    raise ConfigurationError(f"entity {entity.name!r} is declared twice with different join keys")
                entities[entity.name] = entity
        object.__setattr__(self, "entities", tuple(entities.values()))
        object.__setattr__(self, "models", tuple(self._resolve(m) for m in self.models))
        if self.demo is not None:
            self._check_demo(self.demo)

    # -- lookups -----------------------------------------------------------------------
    def raw_source(self, name: str) -> RawSource:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(sorted(s.name for s in self.sources))
        raise ConfigurationError(f"no raw source {name!r} in project {self.name!r}; known: {known}")

    def feature_view(self, name: str, version: int | None = None) -> FeatureView:
        """The view ``name`` at ``version`` (the latest when ``None``)."""
        matches = [v for v in self.feature_views if v.name == name and (version is None or v.version == version)]
        if not matches:
            known = ", ".join(v.qualified_name for v in self.feature_views)
            raise ConfigurationError(f"no feature view {name!r}{f' v{version}' if version else ''}; known: {known}")
        return max(matches, key=lambda v: v.version)

    def view_by_ref(self, ref: str) -> FeatureView:
        """``name``, ``name:vN`` or ``name:N`` (the latest version when none is given)."""
        name, _, version = ref.partition(":")
        digits = version.lstrip("v")
        if version and not digits.isdigit():
            raise ConfigurationError(f"feature view reference {ref!r}: the version must be vN or N")
        return self.feature_view(name, int(digits) if version else None)

    def views_of_source(self, source: str) -> tuple[FeatureView, ...]:
        return tuple(v for v in self.feature_views if v.source == source)

    def model(self, name: str) -> ModelSpec:
        for model in self.models:
            if model.name == name:
                return model
        known = ", ".join(m.name for m in self.models)
        raise ConfigurationError(f"no model {name!r} in project {self.name!r}; known: {known}")

    def model_for(self, requested: str | None) -> ModelSpec:
        """The model a training request names, or the project's only model when it names none."""
        if requested:
            return self.model(requested)
        if len(self.models) == 1:
            return self.models[0]
        raise ConfigurationError(
            f"project {self.name!r} has {len(self.models)} models ({', '.join(self.model_names)}): "
            'name one in the training input, {"model": "<name>", ...}'
        )

    def label_field(self, model: ModelSpec) -> Field:
        """The typed field of ``model``'s label, from its label view."""
        schema = self.view_by_ref(model.feature_store.label_view).schema
        return next(f for f in schema if f.name == model.label)

    def feedback_view(self, model: ModelSpec) -> FeatureView:
        """The view holding ``model``'s captured predictions joined with their ground truth (the toolkit's own)."""
        return feedback_view(model.name, model.inputs, self.label_field(model))

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def describe(self) -> dict[str, Any]:
        """What the project defines, as ``mlops project check`` prints it."""
        return {
            "project": self.name,
            "root": str(self.root) if self.root else None,
            "sources": [
                {"name": s.name, "fields": [f"{f.name}:{f.dtype}" for f in s.schema], "unique": list(s.unique_keys)}
                for s in self.sources
            ],
            "entities": [{"name": e.name, "join_keys": list(e.join_keys)} for e in self.entities],
            "feature_views": [
                {
                    "view": v.qualified_name,
                    "source": v.source,
                    "entities": [e.name for e in v.entities],
                    "features": v.feature_names,
                    "ttl": str(v.ttl),
                    "rule": str(v.transformation),
                }
                for v in self.feature_views
            ],
            "models": [
                {
                    "model": m.name,
                    "task": str(m.task),
                    "features": [f"{f.name}:{f.dtype}" for f in m.inputs],
                    "label": m.label,
                    **({"labels": list(m.labels)} if m.labels else {}),
                    "estimator": type(m.build_estimator()).__name__,
                    "views": list(m.feature_store.views),
                    "gate": {
                        "primary_metric": m.gate.primary_metric,
                        "floors": dict(m.gate.floors),
                        "per_class_floors": dict(m.gate.per_class_floors),
                        "tolerance": m.gate.tolerance,
                    },
                    "search_space": _describe_search(m),
                    "training_window": m.training_window.describe(),
                }
                for m in self.models
            ],
        }

    # -- checks ------------------------------------------------------------------------
    def _resolve(self, model: ModelSpec) -> ModelSpec:
        views = [self._model_view(model, ref) for ref in model.feature_store.views]
        provided: dict[str, Field] = {}
        for view in views:
            for spec in view.schema:
                provided.setdefault(spec.name, spec)
        missing = [name for name in model.features if name not in provided]
        if missing:
            names = ", ".join(v.qualified_name for v in views)
            raise ConfigurationError(
                f"model {model.name!r}: feature(s) {missing} are provided by none of its views ({names})"
            )
        label = self._model_view(model, model.feature_store.label_view).schema
        label_field = next((f for f in label if f.name == model.label), None)
        if label_field is None:
            raise ConfigurationError(
                f"model {model.name!r}: label {model.label!r} is not a feature of its label view "
                f"{model.feature_store.label_view!r}"
            )
        inputs = tuple(provided[name] for name in model.features)
        for spec in inputs:
            if spec.dtype is ValueType.TIMESTAMP:
                raise ConfigurationError(
                    f"model {model.name!r}: feature {spec.name!r} is a timestamp; derive a number from it"
                )
        labels = tuple(model.labels)
        if model.task is Task.CLASSIFICATION:
            if label_field.dtype in _NUMERIC and not labels:
                raise ConfigurationError(
                    f"model {model.name!r}: classification label {model.label!r} is {label_field.dtype}; "
                    "declare labels=(...) or use a string field with allowed values"
                )
            labels = labels or tuple(label_field.allowed or ())
            if len(labels) < 2:
                raise ConfigurationError(
                    f"model {model.name!r}: classification needs at least two labels; give the label field "
                    f"{model.label!r} allowed=(...) values or the model labels=(...)"
                )
        elif label_field.dtype not in _NUMERIC:
            raise ConfigurationError(
                f"model {model.name!r}: regression label {model.label!r} must be a number, not {label_field.dtype}"
            )
        elif labels:
            raise ConfigurationError(f"model {model.name!r}: a regression model has no labels=(...)")
        model.gate.validate(model.task, model.name, labels)
        feedback_view(model.name, inputs, label_field)  # a feature named like a provenance column fails here
        try:
            estimator = model.build_estimator()
        except Exception as exc:
            raise ConfigurationError(
                f"model {model.name!r}: the estimator factory raised {type(exc).__name__}: {exc}"
            ) from exc
        for method in ("fit", "predict", "get_params"):
            if not callable(getattr(estimator, method, None)):
                raise ConfigurationError(
                    f"model {model.name!r}: the estimator factory returned {type(estimator).__name__}, "
                    f"which has no {method}(); return a scikit-learn estimator or Pipeline"
                )
        if model.search_space is not None:
            check_search_space(model, model.search_space)
        return replace(model, inputs=inputs, labels=labels)

    def _model_view(self, model: ModelSpec, ref: str) -> FeatureView:
        try:
            return self.view_by_ref(ref)
        except ConfigurationError as exc:
            raise ConfigurationError(f"model {model.name!r}: {exc}") from None

    def _check_demo(self, demo: DemoScenario) -> None:
        self.raw_source(demo.source)
        model = self.model(demo.model) if demo.model else self.models[0]
        unknown = sorted(set(demo.shift) - set(model.features))
        if unknown:
            raise ConfigurationError(f"demo: shift names {unknown}, which are not features of model {model.name!r}")
        for feature in demo.shift:
            if model.input(feature).dtype not in _NUMERIC:
                raise ConfigurationError(f"demo: shift of {feature!r} needs a numeric feature")


def _describe_search(model: ModelSpec) -> dict[str, Any] | None:
    space = model.search_space
    if space is None:
        return None
    return {
        "params": {name: list(values) for name, values in space.params.items()},
        "strategy": space.strategy,
        "max_trials": space.max_trials,
        "max_concurrency": space.max_concurrency,
        "validation_fraction": space.validation_fraction,
        "on_every_run": space.on_every_run,
    }


def _unique(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigurationError(f"two {kind}s are named {name!r}")
        seen.add(name)
