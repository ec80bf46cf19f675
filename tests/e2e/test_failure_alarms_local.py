"""The deployed alarms on the local cloud: the monitor's heartbeat, an unattended function's errors, and the
inference function's server-error rate (one cloud: each setup costs about half a second)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from mlops.local import LocalCloud


def alarm_named(cloud: LocalCloud, part: str) -> Any:
    assert cloud.alarms is not None
    (alarm,) = [a for a in cloud.alarms.alarms.values() if part in a.name]
    return alarm


def server_errors(cloud: LocalCloud, count: int) -> None:
    """``count`` 500 answers of the inference handler, as its EMF ServerErrors metric reports them."""
    at_ms = int(cloud.clock().timestamp() * 1000)
    for _ in range(count):
        assert cloud.alarms is not None
        cloud.alarms.ingest_emf(
            {
                "_aws": {
                    "Timestamp": at_ms,
                    "CloudWatchMetrics": [
                        {"Namespace": "Mlops/dev", "Dimensions": [["service"]], "Metrics": [{"Name": "ServerErrors"}]}
                    ],
                },
                "service": "Inference",
                "ServerErrors": 1,
            }
        )


def test_heartbeat_guard_errors_and_server_error_rate_alarms_fire_locally(cloud: LocalCloud) -> None:
    assert cloud.alarms is not None
    heartbeat = alarm_named(cloud, "MonitorHeartbeat")
    # Given a monitor run (no champion yet: a skipped window is still a run) at the window's end
    now = cloud.clock().replace(minute=0, second=0, microsecond=0)
    response = cloud.client("lambda").invoke(
        FunctionName=cloud.function_name("FunctionsMonitor"),
        Payload=json.dumps({"time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "detail-type": "Scheduled Event"}).encode(),
    )
    assert json.loads(response["Payload"].read())["status"] == "skipped"
    # When the alarms are evaluated within the next window, Then the heartbeat is OK
    cloud.alarms.evaluate(now + timedelta(minutes=30))
    assert heartbeat.state == "OK"
    # When the monitor has not run for two more windows, Then its heartbeat alarm fires, notifying the alarm topic
    changes = cloud.alarms.evaluate(now + timedelta(hours=3))
    assert heartbeat.state == "ALARM"
    (fired,) = [c for c in changes if c["detail"]["alarmName"] == heartbeat.name]
    assert fired["resources"] == [heartbeat.arn]
    assert heartbeat.alarm_actions and all(":sns:" in action for action in heartbeat.alarm_actions)

    # Given a retrain guard invocation that fails (an event it cannot read), Then its errors alarm fires
    guard_errors = alarm_named(cloud, "RetrainGuardErrors")
    failed = cloud.client("lambda").invoke(FunctionName=cloud.function_name("FunctionsRetrainGuard"), Payload=b"[]")
    assert failed.get("FunctionError")
    cloud.alarms.evaluate()
    assert guard_errors.state == "ALARM"

    # Given the inference function's deployed server-error alarm: five requests, all answered 500, do not fire it
    rate = alarm_named(cloud, "ServerErrorsAlarm")
    inference = cloud.function_name("FunctionsInference")
    for _ in range(5):
        cloud.alarms.record_invocation(inference, errored=False)
    server_errors(cloud, 5)
    cloud.alarms.evaluate()
    assert rate.state == "OK"
    # But once the period has enough requests, 5 of 40 (12.5 %) answered 500 does
    for _ in range(35):
        cloud.alarms.record_invocation(inference, errored=False)
    cloud.alarms.evaluate()
    assert rate.state == "ALARM"
