"""Tests of this project, run from its folder: ``python -m pytest tests``.

They need the toolkit importable (installed, or on ``PYTHONPATH``) and check, on the sample data
the demo uses, what the pipelines will do with it (``functions/project/checks.py``): the project
loads; every rule turns the validated raw rows into exactly its view's columns; every model,
trained on the older 80% of its training set, passes its own quality gate on the newest 20%.
Add tests of your own rules and models beside them.
"""

from __future__ import annotations

from functions.project.checks import assert_models_pass_their_gates, assert_rules_produce_their_views, project_of

PROJECT = project_of(__file__)


def test_project_loads() -> None:
    assert PROJECT.models and PROJECT.feature_views


def test_each_rule_produces_its_views_columns() -> None:
    assert_rules_produce_their_views(PROJECT)


def test_each_model_passes_its_gate_on_a_time_based_holdout() -> None:
    assert_models_pass_their_gates(PROJECT)
