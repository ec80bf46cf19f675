"""Why a retrain was asked for: trigger events of every kind, read into one ``TriggerReason``.

Triggers reach the retrain guard through EventBridge: a Scheduler schedule
(its input names the schedule), a CloudWatch alarm entering ALARM (the
"CloudWatch Alarm State Change" event), or new data (an object key). The
reason travels into the training run's ``trigger`` and so into its lineage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.shared.errors import InvalidRequestError

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
FINISHED_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# Key of ``TriggerReason.detail`` naming the monitor run (and its drift report) behind an alarm.
MONITOR_RUN = "monitor_run"


@dataclass(frozen=True)
class TriggerReason:
    """What asked for a retrain, when, and the evidence (alarm and metric value, schedule, object key)."""

    type: str
    time: datetime
    source: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["time"] = self.time.strftime("%Y-%m-%dT%H:%M:%SZ")
        return out


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"trigger time must be an ISO-8601 string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(f"trigger time {value!r} is not ISO-8601") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _alarm_value(detail: dict[str, Any]) -> float | None:
    try:
        points = json.loads(detail["state"].get("reasonData", "{}")).get("recentDatapoints", [])
    except (ValueError, AttributeError):
        return None
    return float(points[-1]) if points else None


def trigger_reason(event: dict[str, Any]) -> TriggerReason:
    """The reason carried by a trigger event; an event of no known shape is a clear error."""
    if event.get("detail-type") == ALARM_STATE_CHANGE:
        detail = event.get("detail", {})
        state = detail.get("state", {}).get("value")
        if state != "ALARM":
            raise InvalidRequestError(f"alarm event for {detail.get('alarmName')!r} is in state {state!r}, not ALARM")
        return TriggerReason(
            type="alarm",
            time=parse_time(event.get("time")),
            source=str(detail.get("alarmName")),
            detail={"metric_value": _alarm_value(detail), "reason": detail.get("state", {}).get("reason", "")},
        )
    trigger = event.get("trigger")
    if isinstance(trigger, dict) and trigger.get("type") in ("schedule", "new_data"):
        # New data names the object it came in, or the feature-pipeline execution that stored it.
        source = trigger.get("schedule") or trigger.get("object_key") or trigger.get("execution")
        if not source:
            raise InvalidRequestError(f"{trigger['type']} trigger must name its schedule, object_key or execution")
        return TriggerReason(
            type=str(trigger["type"]),
            time=parse_time(trigger.get("time")),
            source=str(source),
            detail={
                k: v for k, v in trigger.items() if k not in ("type", "time", "schedule", "object_key", "execution")
            },
        )
    raise InvalidRequestError(
        "unknown trigger event: expected a CloudWatch alarm state change or "
        '{"trigger": {"type": "schedule"|"new_data", ...}}'
    )


def alarm_period(event: dict[str, Any]) -> timedelta | None:
    """The period of the metric an alarm event watches (its ``configuration``), if the event names one."""
    for metric in event.get("detail", {}).get("configuration", {}).get("metrics", []):
        period = metric.get("metricStat", {}).get("period")
        if isinstance(period, int | float) and period > 0:
            return timedelta(seconds=period)
    return None


def monitor_run_time(run_id: str) -> datetime | None:
    """When a monitor run's window ended: its id starts with that UTC time (``YYYYmmddTHHMMSSZ-<hex>``)."""
    try:
        return datetime.strptime(run_id.split("-", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def monitor_run_behind(run_ids: list[str], at: datetime, period: timedelta) -> str | None:
    """The monitor run whose metrics an alarm at ``at`` evaluated: the latest window ending at or before
    ``at`` and within the two periods before it (the datapoint's period and the one it was aligned from).

    ``None`` when no run is that recent: the alarm fired on something else (missing data treated as
    breaching, say) and no monitor run is claimed as its evidence.
    """
    timed = [(t, run_id) for run_id in run_ids if (t := monitor_run_time(run_id)) is not None]
    recent = [(t, run_id) for t, run_id in timed if at - 2 * period <= t <= at]
    return max(recent)[1] if recent else None
