"""The deployed alarms on the local cloud: the monitor's heartbeat and an unattended function's errors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from mlops.local import LocalCloud


def alarm_named(cloud: LocalCloud, part: str) -> Any:
    assert cloud.alarms is not None
    (alarm,) = [a for a in cloud.alarms.alarms.values() if part in a.name]
    return alarm


def test_heartbeat_fires_when_the_monitor_stops_and_guard_errors_fire_their_alarm(cloud: LocalCloud) -> None:
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
