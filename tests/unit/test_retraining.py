"""Trigger events of every kind read into one TriggerReason (what the run's lineage records)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.retraining.triggers import alarm_period, monitor_run_behind, monitor_run_time, trigger_reason
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


def test_the_monitor_run_behind_an_alarm_is_the_latest_window_of_its_last_two_periods() -> None:
    at, period = datetime(2026, 5, 4, 1, 10, tzinfo=UTC), timedelta(hours=1)
    runs = ["20260503T220000Z-aaaa0001", "20260504T000000Z-aaaa0002", "20260504T010000Z-aaaa0003"]
    # The latest window ending at or before the alarm
    assert monitor_run_behind(runs, at, period) == "20260504T010000Z-aaaa0003"
    # A run after the alarm is not its evidence; nor is one older than two periods, nor a malformed id
    assert monitor_run_behind([*runs[:2], "20260504T011500Z-aaaa0004"], at, period) == "20260504T000000Z-aaaa0002"
    assert monitor_run_behind(runs[:1], at, period) is None
    assert monitor_run_behind(["not-a-run", "x"], at, period) is None
    assert monitor_run_time("20260504T010000Z-aaaa0003") == datetime(2026, 5, 4, 1, tzinfo=UTC)


def test_alarm_period_comes_from_the_alarm_event_configuration() -> None:
    event = alarm()
    assert alarm_period(event) is None
    event["detail"]["configuration"] = {"metrics": [{"id": "m1", "metricStat": {"period": 3600}}]}  # type: ignore[index]
    assert alarm_period(event) == timedelta(hours=1)
