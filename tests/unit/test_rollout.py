"""The pure parts of the safe rollout: the distribution signal, the rollout context, the smoke test."""

from __future__ import annotations

import json

import pytest

from functions.rollout.canary import (
    RolloutContext,
    agreement,
    baseline_agreement,
    baseline_from_metrics,
    baseline_metrics,
    is_smoke_test,
    lambda_appspec,
    predicted_range,
    predicted_shares,
    proxy_event,
    range_agreement,
    range_from_metrics,
    range_metrics,
    rollback_cause,
    smoke_record,
    smoke_test_failures,
)
from functions.shared.errors import RolloutError
from mlops.local.codedeploy import ALARM_MESSAGE

BASELINE = {"sun": 0.6, "rain": 0.3, "snow": 0.1}


def test_predictions_distributed_as_on_holdout_agree_about_one() -> None:
    # Given predictions in the baseline's proportions
    predicted = ["sun"] * 60 + ["rain"] * 30 + ["snow"] * 10
    # Then the agreement is exactly 1 (mean share over self-agreement)
    assert baseline_agreement(predicted, BASELINE) == pytest.approx(1.0)


def test_predictions_moved_to_a_rare_label_fall_far_below_the_alarm_threshold() -> None:
    assert baseline_agreement(["snow"] * 50, BASELINE) < 0.5 * baseline_agreement(["sun"] * 50, BASELINE)
    assert baseline_agreement(["drizzle"], BASELINE) == 0.0


def test_baseline_round_trips_through_registered_metrics() -> None:
    shares = predicted_shares(["sun", "sun", "rain"], ["sun", "rain", "snow"])
    assert shares == pytest.approx({"sun": 2 / 3, "rain": 1 / 3, "snow": 0.0})
    metrics = {"accuracy": 0.7, **baseline_metrics(shares)}
    assert baseline_from_metrics(metrics) == pytest.approx(shares)
    assert baseline_from_metrics({"accuracy": 0.7}) is None


def test_rollout_context_is_the_deployment_description_and_feeds_the_appspec() -> None:
    context = RolloutContext("m", 7, 6, "fn", "live", "3", "4")
    assert RolloutContext.from_description(context.to_description()) == context
    spec = lambda_appspec(context, before_allow_traffic="hook")
    (resource,) = spec["Resources"]
    assert resource["InferenceFunction"]["Properties"] == {
        "Name": "fn",
        "Alias": "live",
        "CurrentVersion": "3",
        "TargetVersion": "4",
    }
    assert spec["Hooks"] == [{"BeforeAllowTraffic": "hook"}]
    with pytest.raises(RolloutError, match="not a rollout context"):
        RolloutContext.from_description("deployed by hand")


def test_rollback_cause_names_the_activated_alarm_or_the_error() -> None:
    alarm = {"code": "ALARM_ACTIVE", "message": ALARM_MESSAGE + "PredictionShiftAlarm-1"}
    assert rollback_cause(alarm, "Stopped") == "PredictionShiftAlarm-1"
    assert rollback_cause({"code": "HOOK_EXECUTION_FAILURE", "message": "hook said Failed"}, "Failed") == (
        "HOOK_EXECUTION_FAILURE: hook said Failed"
    )
    assert rollback_cause(None, "Stopped") == "Stopped"


def test_smoke_test_checks_the_served_version_and_the_label() -> None:
    good_model = {"statusCode": 200, "body": json.dumps({"version": 4})}
    good_predict = {
        "statusCode": 200,
        "body": json.dumps({"model": {"name": "m", "version": 4}, "predictions": [{"label": "sun"}]}),
    }
    assert smoke_test_failures(good_model, good_predict, model_version=4, labels=["sun", "rain"]) == []
    wrong = smoke_test_failures(good_model, good_predict, model_version=5, labels=["sun"])
    assert any("expected 5" in problem for problem in wrong)
    failing = {"statusCode": 500, "body": "{}"}
    assert any("answered 500" in p for p in smoke_test_failures(good_model, failing, model_version=4, labels=["sun"]))


def test_smoke_test_requests_are_marked_in_the_context_and_a_header_marks_nothing() -> None:
    assert is_smoke_test(proxy_event("GET", "/model"))
    # A client's header reaches the function as sent, so it marks nothing (API Gateway builds the context)
    assert not is_smoke_test({"headers": {"x-mlops-smoke-test": "1"}, "requestContext": {"stage": "v1"}})
    assert not is_smoke_test(None)


# -- regression and typed signatures -------------------------------------------------------------------------------
def test_regression_signal_is_the_share_inside_the_holdout_range_over_its_share() -> None:
    # Given holdout predictions 0..999: the [5th, 95th] percentile range holds 90% of them
    holdout = [float(v) for v in range(1000)]
    bounds = predicted_range(holdout)
    assert bounds == pytest.approx({"p05": 49.95, "p95": 949.05})
    metrics = {"rmse": 3.0, **range_metrics(bounds)}
    assert range_from_metrics(metrics) == pytest.approx((49.95, 949.05))
    # Then predictions distributed as on the holdout agree about 1
    assert range_agreement(holdout, *range_from_metrics(metrics)) == pytest.approx(1.0, abs=0.01)  # type: ignore[misc]
    assert agreement(holdout[::7], metrics) == pytest.approx(1.0, abs=0.02)
    # and predictions that moved out of the range fall towards 0, far below the alarm threshold of 0.5
    assert agreement([v + 800 for v in holdout], metrics) == pytest.approx(0.15 / 0.9, abs=0.01)
    assert agreement([5000.0] * 10, metrics) == 0.0


def test_the_signal_follows_the_registered_baseline_and_needs_one() -> None:
    classification = baseline_metrics({"sun": 0.6, "rain": 0.4})
    assert agreement(["sun", "rain"], classification) == baseline_agreement(["sun", "rain"], {"sun": 0.6, "rain": 0.4})
    assert agreement([1.0, 2.0], {"rmse": 1.0}) is None
    assert agreement([], range_metrics({"p05": 0.0, "p95": 1.0})) is None
    assert range_from_metrics({"predicted_range.p05": 1.0}) is None


def test_smoke_record_is_valid_for_every_dtype() -> None:
    signature = {
        "features": [
            {"name": "temperature", "dtype": "float", "minimum": -30.0, "maximum": 45.0},
            {"name": "staff", "dtype": "int", "minimum": 0.0, "maximum": 10_001.0},
            {"name": "floor", "dtype": "int", "minimum": 0.5, "maximum": None},
            {"name": "count", "dtype": "int", "minimum": None, "maximum": None},
            {"name": "site", "dtype": "string", "minimum": None, "maximum": None, "allowed": ["north", "south"]},
            {"name": "note", "dtype": "string", "minimum": None, "maximum": None},
            {"name": "holiday", "dtype": "bool", "minimum": None, "maximum": None},
            {"name": "wind", "minimum": 0.0, "maximum": None},  # registered before dtypes: a float
        ],
        "labels": [],
        "task": "regression",
    }
    record = smoke_record(signature)
    assert record == {
        "temperature": 7.5,
        "staff": 5000,
        "floor": 1,
        "count": 0,
        "site": "north",
        "note": "unknown",
        "holiday": False,
        "wind": 0.0,
    }
    assert all(type(record[name]) is int for name in ("staff", "floor", "count"))


def test_smoke_test_of_a_regressor_wants_a_finite_value() -> None:
    model = {"statusCode": 200, "body": json.dumps({"version": 2})}

    def answer(predictions: list[dict[str, object]]) -> dict[str, object]:
        return {
            "statusCode": 200,
            "body": json.dumps({"model": {"name": "m", "version": 2}, "predictions": predictions}),
        }

    def failures(predictions: list[dict[str, object]]) -> list[str]:
        return smoke_test_failures(model, answer(predictions), model_version=2, labels=[], task="regression")

    assert failures([{"prediction_id": "p", "value": 412.5}]) == []
    assert failures([{"prediction_id": "p", "value": 0}]) == []
    nan = [{"value": float("nan")}]
    for bad in (
        [{"label": "sun"}],
        [{"value": "412"}],
        [{"value": True}],
        [{"value": None}],
        nan,
        [],
        [{"value": 1}] * 2,
    ):
        (problem,) = failures(bad)  # type: ignore[arg-type]
        assert "no finite value for the smoke record" in problem
    # a classifier's answer is still checked for its label
    assert smoke_test_failures(model, answer([{"value": 1.0}]), model_version=2, labels=["sun"]) != []
