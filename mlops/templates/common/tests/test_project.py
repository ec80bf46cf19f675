"""Tests of this project, run from its folder: ``python -m pytest tests``.

They need the toolkit importable (installed, or on ``PYTHONPATH``) and check, on the sample
data the demo uses, what the pipelines will do with it: the project loads; every rule turns
the validated raw rows into exactly its view's columns; every model, trained on the older
80% of its training set (built as the training pipeline builds it: the label view's events,
each view joined point-in-time), passes its own quality gate on the newest 20%.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP
from functions.feature_store.point_in_time import point_in_time_join
from functions.feature_store.training_sets import entity_events
from functions.feature_store.transformations import apply_transformation
from functions.feature_store.validation import read_raw_table, validate_rows
from functions.project import ModelSpec, Project, load_project
from functions.training.dataset import validate_training_frame
from functions.training.fit import evaluate_model, time_based_split, train_model
from functions.training.gate import decide

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project(PROJECT_DIR)


@pytest.fixture(scope="module")
def raw(project: Project) -> pd.DataFrame:
    """The sample data, typed by its raw source's schema; every row must pass validation."""
    assert project.demo is not None, "these tests use the sample data of the project's demo=DemoScenario(...)"
    source = project.raw_source(project.demo.source)
    path = PROJECT_DIR / project.demo.data
    result = validate_rows(read_raw_table(path.read_bytes(), path.name), source.schema, unique_keys=source.unique_keys)
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


def test_project_loads(project: Project) -> None:
    assert project.models
    assert project.feature_views


def test_each_rule_produces_its_views_columns(project: Project, raw: pd.DataFrame) -> None:
    assert project.demo is not None
    for view in project.views_of_source(project.demo.source):
        rows = apply_transformation(view, raw)  # raises if a column is missing, undeclared or null
        assert list(rows.columns) == [*view.join_keys, EVENT_TIMESTAMP, *view.feature_names]
        assert len(rows) > 0, f"{view.qualified_name}: the rule produced no rows"
        duplicated = rows.duplicated([*view.join_keys, EVENT_TIMESTAMP])
        assert not duplicated.any(), f"{view.qualified_name}: {int(duplicated.sum())} rows repeat a key and time"


def test_each_model_passes_its_gate_on_a_time_based_holdout(project: Project, raw: pd.DataFrame) -> None:
    for model in project.models:
        split = time_based_split(training_frame(project, model, raw), model)
        fitted = train_model(split.train, model)
        evaluation = evaluate_model(fitted, split.holdout, model)
        decision = decide(model.gate, model.task, evaluation.quality, per_class_f1=evaluation.per_class_f1)
        assert decision.passed, f"model {model.name!r}: {decision.reason} (holdout: {evaluation.quality})"
