"""Hyperparameter search rules: the search space and params checked against the estimator, trials planned,
the best chosen (``functions/training/search.py``)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sklearn.ensemble import RandomForestClassifier

from functions.feature_store.definitions import Field, ValueType
from functions.project import FeatureStoreInputs, ModelSpec, QualityGate, SearchSpace, Task, load_project
from functions.shared.errors import ConfigurationError, InvalidRequestError
from functions.shared.objects import S3Uri
from functions.training.search import (
    FAILED,
    SUCCEEDED,
    SearchFailedError,
    TrialOutcome,
    check_search_space,
    choose_best,
    plan_trials,
    request_params,
    requested_search,
)
from functions.training.steps import split
from tests.projects import SEATTLE_DIR


def _spec(**changes: object) -> ModelSpec:
    spec = ModelSpec(
        name="m",
        task=Task.CLASSIFICATION,
        features=("x",),
        label="y",
        estimator=RandomForestClassifier,
        params={"n_estimators": 5, "n_jobs": 1},
        feature_store=FeatureStoreInputs(views=("v:v1",), label_view="v:v1"),
        gate=QualityGate(primary_metric="macro_f1"),
        labels=("a", "b"),
        inputs=(Field("x", ValueType.FLOAT64),),
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (SearchSpace(params={}), "declares no parameter"),
        (SearchSpace(params={"max_depth": ()}), "parameter 'max_depth' has no value"),
        (SearchSpace(params={"max_depth": range(10**9)}), "parameter 'max_depth' must be a finite tuple"),  # type: ignore[dict-item]
        (SearchSpace(params={"max_depth": (2,)}, max_trials=10**6), "max_trials must be within 1..1000"),
        (SearchSpace(params={"max_depth": (2,)}, max_concurrency=0), "max_concurrency must be within 1..40"),
        (SearchSpace(params={"depth": (2, 3)}), "parameter 'depth': the estimator takes no such parameter"),
        (SearchSpace(params={"n_estimators": (10, "many")}), "parameter 'n_estimators': 'many' is a str"),
        (SearchSpace(params={"max_depth": (2, -1)}), "parameter 'max_depth' = -1: InvalidParameterError"),
    ],
)
def test_bad_search_spaces_are_refused_naming_the_parameter(space: SearchSpace, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as refused:
        check_search_space(_spec(), space)
    assert "\n" not in str(refused.value)


def test_request_params_and_tune_are_checked_like_the_definition() -> None:
    spec = _spec(search_space=SearchSpace(params={"max_depth": (2, 4)}))
    assert request_params(spec, {"params": {"max_depth": 3}}) == {"max_depth": 3}
    with pytest.raises(InvalidRequestError, match="parameter 'max_dpth'"):
        request_params(spec, {"params": {"max_dpth": 3}})
    with pytest.raises(InvalidRequestError, match="'n_estimators': 'x' is a str"):
        requested_search(spec, {"tune": {"params": {"n_estimators": [5, "x"]}}})
    with pytest.raises(InvalidRequestError, match="both fixed by the request's params and searched"):
        requested_search(spec, {"tune": True, "params": {"max_depth": 3}})
    # No tune: the definition trains as it is, unless its space says on_every_run
    assert requested_search(spec, {}) is None
    every = _spec(search_space=SearchSpace(params={"max_depth": (2,)}, on_every_run=True))
    assert requested_search(every, {}) is not None and requested_search(every, {"tune": False}) is None
    with pytest.raises(InvalidRequestError, match="declares no search_space"):
        requested_search(_spec(), {"tune": True})


def test_grid_plans_every_combination_in_order_and_samples_past_max_trials() -> None:
    grid = SearchSpace(params={"max_depth": (2, 4), "min_samples_leaf": (1, 5)})
    planned = plan_trials(grid, seed=1)
    assert [t.params for t in planned] == [
        {"max_depth": 2, "min_samples_leaf": 1},
        {"max_depth": 2, "min_samples_leaf": 5},
        {"max_depth": 4, "min_samples_leaf": 1},
        {"max_depth": 4, "min_samples_leaf": 5},
    ]
    bounded = plan_trials(replace(grid, max_trials=3), seed=1)
    assert len(bounded) == 3 and bounded == plan_trials(replace(grid, max_trials=3), seed=1)
    drawn = plan_trials(replace(grid, strategy="random", max_trials=2, seed=7), seed=1)
    assert len({tuple(t.params.items()) for t in drawn}) == 2


def test_best_trial_is_chosen_by_the_primary_metric_and_failed_trials_are_skipped() -> None:
    outcomes = [
        TrialOutcome(0, SUCCEEDED, {"max_depth": 2}, {"macro_f1": 0.7}),
        TrialOutcome(1, FAILED, {"max_depth": 9}, {}, "ValueError: boom"),
        TrialOutcome(2, SUCCEEDED, {"max_depth": 4}, {"macro_f1": 0.8}),
    ]
    best = choose_best(outcomes, _spec())
    assert (best.best.index, best.value, best.succeeded, best.failed) == (2, 0.8, 2, 1)
    regression = _spec(task=Task.REGRESSION, labels=(), gate=QualityGate(primary_metric="rmse"))
    lower = choose_best([TrialOutcome(0, SUCCEEDED, {}, {"rmse": 3.0}), TrialOutcome(1, SUCCEEDED, {}, {"rmse": 2.0})],
                        regression)  # fmt: skip
    assert lower.best.index == 1
    with pytest.raises(SearchFailedError, match=r"all 1 trials failed.*trial 1: ValueError: boom"):
        choose_best([outcomes[1]], _spec())


def test_a_project_whose_search_space_names_an_unknown_parameter_does_not_load() -> None:
    # Given the demo's project, its model's search space changed to a parameter RandomForest does not take
    project = load_project(SEATTLE_DIR)
    [model] = project.models
    # Then the project is refused as it is built (load, `mlops project check`, synth), naming the parameter
    with pytest.raises(ConfigurationError, match="model 'seattle-weather': search_space parameter 'depth': the est"):
        replace(project, models=(replace(model, search_space=SearchSpace(params={"depth": (1, 2)})),))


def test_the_pipelines_split_refuses_a_bad_request_before_reading_any_data() -> None:
    # The Split step checks the run's params and tune first: nothing is read, split or fitted
    bad = {"tune": {"params": {"max_depth": [2, "deep"]}}}
    with pytest.raises(InvalidRequestError, match="tune parameter 'max_depth' = 'deep': InvalidParameterError"):
        split(None, _spec(), {"uri": "s3://never/read", "sha256": "0"}, base=S3Uri("b", "k"), request=bad)  # type: ignore[arg-type]


def test_a_huge_grid_is_sampled_without_being_enumerated() -> None:
    huge = SearchSpace(params={f"p{i}": tuple(range(10)) for i in range(10)}, max_trials=5)  # 10**10 combinations
    planned = plan_trials(huge, seed=3)
    assert len(planned) == 5 and len({tuple(t.params.values()) for t in planned}) == 5
    assert all(list(t.params) == [f"p{i}" for i in range(10)] for t in planned)
