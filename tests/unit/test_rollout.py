"""The pure parts of the safe rollout: the distribution signal, the rollout context, the smoke test."""

from __future__ import annotations

import json

import pytest

from functions.rollout.canary import (
    RolloutContext,
    baseline_agreement,
    baseline_from_metrics,
    baseline_metrics,
    is_smoke_test,
    lambda_appspec,
    predicted_shares,
    proxy_event,
    rollback_cause,
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


def test_smoke_test_requests_are_marked_and_recognised() -> None:
    assert is_smoke_test(proxy_event("GET", "/model")["headers"])
    assert not is_smoke_test({"content-type": "application/json"})
    assert not is_smoke_test(None)
