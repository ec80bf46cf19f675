"""Trigger events of every kind read into one TriggerReason (what the run's lineage records)."""

from __future__ import annotations

import json

import pytest

from functions.retraining.triggers import trigger_reason
from functions.shared.errors import InvalidRequestError


def alarm(state: str = "ALARM", points: list[float] | None = None) -> dict[str, object]:
    return {
        "detail-type": "CloudWatch Alarm State Change",
        "time": "2026-05-04T01:10:00Z",
        "detail": {
            "alarmName": "Mlops-dev-DriftAlarm",
            "state": {
                "value": state,
                "reason": "Threshold Crossed",
                "reasonData": json.dumps({"recentDatapoints": points or [0.75]}),
            },
        },
    }


def test_alarm_reason_names_the_alarm_and_its_metric_value() -> None:
    reason = trigger_reason(alarm())
    assert (reason.type, reason.source, reason.detail["metric_value"]) == ("alarm", "Mlops-dev-DriftAlarm", 0.75)
    assert reason.to_dict()["time"] == "2026-05-04T01:10:00Z"


def test_alarm_leaving_alarm_state_is_not_a_trigger() -> None:
    with pytest.raises(InvalidRequestError, match="not ALARM"):
        trigger_reason(alarm("OK"))


def test_schedule_and_new_data_reasons_name_their_source() -> None:
    schedule = trigger_reason(
        {"trigger": {"type": "schedule", "schedule": "Mlops-dev-retrain", "time": "2026-05-04T03:00:00Z"}}
    )
    assert (schedule.type, schedule.source) == ("schedule", "Mlops-dev-retrain")
    data = trigger_reason(
        {"trigger": {"type": "new_data", "object_key": "raw/2026-05.csv", "time": "2026-05-04T03:00:00Z"}}
    )
    assert (data.type, data.source) == ("new_data", "raw/2026-05.csv")


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"anything": 1}, "unknown trigger event"),
        ({"trigger": {"type": "schedule", "time": "2026-05-04T03:00:00Z"}}, "must name its schedule"),
        ({"trigger": {"type": "schedule", "schedule": "s", "time": "monday"}}, "not ISO-8601"),
    ],
)
def test_malformed_trigger_is_a_clear_error(event: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        trigger_reason(event)
