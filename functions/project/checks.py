"""What a project's own tests check, on its sample data: one implementation every project's tests call.

``mlops init`` writes a ``tests/test_project.py`` of a few lines that calls these; the shipped
examples' tests are the same file. Run from the project's folder: ``python -m pytest tests``.

- every rule turns the validated raw rows into exactly its view's columns, with rows and unique keys;
- every model, trained on the older part of its training set (built as the training pipeline
  builds it: the label view's events, each view joined point-in-time), passes its own gate on
  the newest part.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP
from functions.feature_store.point_in_time import point_in_time_join
from functions.feature_store.training_sets import entity_events
from functions.feature_store.transformations import apply_transformation
from functions.project.definition import Project
from functions.project.loader import load_project
from functions.project.samples import validated_sample
from functions.training.dataset import validate_training_frame
from functions.training.fit import evaluate_model, time_based_split, train_model
from functions.training.gate import decide
from functions.training.model_spec import ModelSpec


def project_of(test_file: str) -> Project:
    """The project whose ``tests/`` holds ``test_file``."""
    return load_project(Path(test_file).resolve().parents[1])


def sample_rows(project: Project) -> pd.DataFrame:
    """The demo's sample data, typed by its raw source's schema; every row must pass validation."""
    result = validated_sample(project)
    assert result.rows_quarantined == 0, f"quarantined rows: {result.reasons()}\n{result.quarantined.head()}"
    return result.valid


def training_frame(project: Project, model: ModelSpec, raw: pd.DataFrame) -> pd.DataFrame:
    """The model's training set from raw rows: the label view's events, every view joined point-in-time."""
    label_view = project.view_by_ref(model.feature_store.label_view)
    entities = entity_events(apply_transformation(label_view, raw), label_view)
    views = []
    for ref in model.feature_store.views:
        view = project.view_by_ref(ref)
        rows = apply_transformation(view, raw)
        rows[CREATED_TIMESTAMP] = rows[EVENT_TIMESTAMP]  # as if each row were stored when it happened
        views.append((view, rows))
    joined = point_in_time_join(entities, views).rename(columns={EVENT_TIMESTAMP: model.timestamp})
    return validate_training_frame(joined, model)


def assert_rules_produce_their_views(project: Project) -> None:
    raw = sample_rows(project)
    assert project.demo is not None
    for view in project.views_of_source(project.demo.source):
        rows = apply_transformation(view, raw)  # raises if a column is missing, undeclared or null
        assert list(rows.columns) == [*view.join_keys, EVENT_TIMESTAMP, *view.feature_names]
        assert len(rows) > 0, f"{view.qualified_name}: the rule produced no rows"
        duplicated = rows.duplicated([*view.join_keys, EVENT_TIMESTAMP])
        assert not duplicated.any(), f"{view.qualified_name}: {int(duplicated.sum())} rows repeat a key and time"


def assert_models_pass_their_gates(project: Project) -> None:
    raw = sample_rows(project)
    for model in project.models:
        split = time_based_split(training_frame(project, model, raw), model)
        evaluation = evaluate_model(train_model(split.train, model), split.holdout, model)
        decision = decide(model.gate, model.task, evaluation.quality, per_class_f1=evaluation.per_class_f1)
        assert decision.passed, f"model {model.name!r}: {decision.reason} (holdout: {evaluation.quality})"
