"""CloudWatch for the local cloud: EMF ingestion and alarm evaluation.

moto's CloudWatch stores metrics but never evaluates alarms. Here:

- Embedded Metric Format documents printed by handlers become datapoints in
  moto's CloudWatch, as CloudWatch Logs turns them into metrics in AWS. They
  are written to moto's CloudWatch backend directly (its own ``put_metric_data``,
  validation included), not through a boto3 client: in AWS this extraction is
  off the request path, and here it runs inside every invocation, where a
  boto3 round trip per document cost milliseconds per request;
- ``AlarmEvaluator.evaluate(now)`` (``now`` defaults to the local cloud's clock) applies each synthesized alarm's
  statistic, period, evaluation periods, datapoints-to-alarm, comparison and
  missing-data treatment to the stored datapoints, sets the alarm state in
  moto, publishes to its SNS actions and puts a "CloudWatch Alarm State
  Change" event on the default bus, shaped as AWS shapes it.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends

from mlops.local.intrinsics import PhysicalResource
from mlops.local.provisioning import Provisioners, ProvisioningContext

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def emf_to_metric_data(document: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(namespace, MetricData) pairs for one EMF document."""
    timestamp = datetime.fromtimestamp(document["_aws"]["Timestamp"] / 1000, tz=UTC)
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for directive in document["_aws"]["CloudWatchMetrics"]:
        dimension_sets = directive.get("Dimensions") or [[]]
        data: list[dict[str, Any]] = []
        for metric in directive["Metrics"]:
            raw = document.get(metric["Name"])
            values = raw if isinstance(raw, list) else [raw]
            for dimension_names in dimension_sets:
                dimensions = [{"Name": n, "Value": str(document[n])} for n in dimension_names]
                for value in values:
                    data.append(
                        {
                            "MetricName": metric["Name"],
                            "Dimensions": dimensions,
                            "Value": float(value),
                            "Unit": metric.get("Unit", "None"),
                            "Timestamp": timestamp,
                        }
                    )
        out.append((directive["Namespace"], data))
    return out


@dataclass
class LocalAlarm:
    name: str
    arn: str
    namespace: str
    metric_name: str
    dimensions: list[dict[str, str]]
    statistic: str
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str
    alarm_actions: list[str]
    ok_actions: list[str]
    description: str = ""
    state: str = "INSUFFICIENT_DATA"
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_properties(cls, name: str, arn: str, props: dict[str, Any]) -> LocalAlarm:
        if "Metrics" in props:
            raise ValueError(f"alarm {name}: metric-math alarms are not evaluated by the local cloud yet")
        if props["ComparisonOperator"] not in _COMPARE:
            raise ValueError(f"alarm {name}: comparison {props['ComparisonOperator']} is not supported locally")
        evaluation_periods = int(props["EvaluationPeriods"])
        return cls(
            name=name,
            arn=arn,
            namespace=props["Namespace"],
            metric_name=props["MetricName"],
            dimensions=list(props.get("Dimensions", [])),
            statistic=props.get("Statistic") or props.get("ExtendedStatistic", "Average"),
            period_s=int(props.get("Period", 300)),
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=int(props.get("DatapointsToAlarm", evaluation_periods)),
            threshold=float(props["Threshold"]),
            comparison=props["ComparisonOperator"],
            treat_missing=props.get("TreatMissingData", "missing"),
            alarm_actions=list(props.get("AlarmActions", [])),
            ok_actions=list(props.get("OKActions", [])),
            description=props.get("AlarmDescription", ""),
        )


def _statistic(values: list[float], statistic: str) -> float:
    if statistic == "Sum":
        return sum(values)
    if statistic == "Average":
        return sum(values) / len(values)
    if statistic == "Maximum":
        return max(values)
    if statistic == "Minimum":
        return min(values)
    if statistic == "SampleCount":
        return float(len(values))
    if statistic.startswith("p"):
        ordered = sorted(values)
        rank = float(statistic[1:]) / 100 * len(ordered)
        return ordered[max(0, math.ceil(rank) - 1)]
    raise ValueError(f"statistic {statistic!r} is not supported locally")


class AlarmEvaluator:
    def __init__(
        self,
        *,
        cloudwatch: Any,
        sns: Any,
        put_event: Callable[[dict[str, Any]], None],
        account: str,
        region: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.alarms: dict[str, LocalAlarm] = {}
        self._clock = clock
        self._cloudwatch = cloudwatch
        self._sns = sns
        self._put_event = put_event
        self._account = account
        self._region = region
        self._datapoints: list[tuple[str, dict[str, Any]]] = []

    def _store(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """``PutMetricData`` on moto's backend; timestamps naive UTC, as moto's request parser leaves them."""
        stored = [{**d, "Timestamp": d["Timestamp"].astimezone(UTC).replace(tzinfo=None)} for d in data]
        cloudwatch_backends[self._account][self._region].put_metric_data(namespace, stored)

    def add(self, alarm: LocalAlarm) -> None:
        self.alarms[alarm.name] = alarm

    def ingest_emf(self, document: dict[str, Any]) -> None:
        for namespace, data in emf_to_metric_data(document):
            if data:
                self._store(namespace, data)
                self._datapoints.extend((namespace, d) for d in data)

    def _values_in(self, alarm: LocalAlarm, start: datetime, end: datetime) -> list[float]:
        wanted = sorted((d["Name"], d["Value"]) for d in alarm.dimensions)
        return [
            d["Value"]
            for namespace, d in self._datapoints
            if namespace == alarm.namespace
            and d["MetricName"] == alarm.metric_name
            and sorted((x["Name"], x["Value"]) for x in d["Dimensions"]) == wanted
            and start <= d["Timestamp"] < end
        ]

    def evaluate(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Evaluate every alarm at ``now`` (default: the local cloud's clock, never the wall clock, so a test's
        outcome does not depend on how fast the machine is); returns the state changes."""
        now = now or self._clock()
        changes = []
        for alarm in self.alarms.values():
            change = self._evaluate_one(alarm, now)
            if change:
                changes.append(change)
        return changes

    def _evaluate_one(self, alarm: LocalAlarm, now: datetime) -> dict[str, Any] | None:
        period = timedelta(seconds=alarm.period_s)
        # Align to period boundaries, newest period last; the current,
        # incomplete period counts, as a datapoint in it already exists.
        end = datetime.fromtimestamp((now.timestamp() // alarm.period_s + 1) * alarm.period_s, tz=UTC)
        outcomes: list[bool | None] = []
        latest_value: float | None = None
        for i in range(alarm.evaluation_periods, 0, -1):
            start = end - i * period
            values = self._values_in(alarm, start, start + period)
            if values:
                latest_value = _statistic(values, alarm.statistic)
                outcomes.append(_COMPARE[alarm.comparison](latest_value, alarm.threshold))
            else:
                outcomes.append(None)
        missing = alarm.treat_missing
        resolved = [o if o is not None else {"breaching": True, "notBreaching": False}.get(missing) for o in outcomes]
        breaching = sum(1 for o in resolved if o is True)
        present = [o for o in resolved if o is not None]
        if breaching >= alarm.datapoints_to_alarm:
            new_state = "ALARM"
        elif not present:
            new_state = alarm.state if missing == "ignore" else "INSUFFICIENT_DATA"
        else:
            new_state = "OK"
        if new_state == alarm.state:
            return None
        reason = (
            f"Threshold Crossed: {breaching} out of the last {alarm.evaluation_periods} datapoints "
            f"[{latest_value}] was {'' if new_state == 'ALARM' else 'not '}{alarm.comparison} "
            f"the threshold ({alarm.threshold})"
        )
        return self._transition(alarm, new_state, reason, latest_value, now)

    def _transition(
        self, alarm: LocalAlarm, new_state: str, reason: str, value: float | None, now: datetime
    ) -> dict[str, Any]:
        previous = alarm.state
        alarm.state = new_state
        self._cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue=new_state, StateReason=reason)
        timestamp = now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        detail = {
            "alarmName": alarm.name,
            "state": {
                "value": new_state,
                "reason": reason,
                "timestamp": timestamp,
                "reasonData": json.dumps(
                    {"recentDatapoints": [value] if value is not None else [], "threshold": alarm.threshold}
                ),
            },
            "previousState": {"value": previous, "timestamp": timestamp},
            "configuration": {
                "description": alarm.description,
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": alarm.namespace,
                                "name": alarm.metric_name,
                                "dimensions": {d["Name"]: d["Value"] for d in alarm.dimensions},
                            },
                            "period": alarm.period_s,
                            "stat": alarm.statistic,
                        },
                        "returnData": True,
                    }
                ],
            },
        }
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": self._account,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [alarm.arn],
            "detail": detail,
        }
        alarm.history.append({"time": timestamp, "from": previous, "to": new_state, "reason": reason})
        actions = alarm.alarm_actions if new_state == "ALARM" else alarm.ok_actions if new_state == "OK" else []
        for action in actions:
            if ":sns:" in action:
                self._sns.publish(
                    TopicArn=action, Subject=f"{new_state}: {alarm.name}"[:100], Message=json.dumps(detail)
                )
        self._put_event(event)
        return event


# -- provisioner: an alarm in moto (what DescribeAlarms answers) and in the evaluator (what decides its state) --
def provisioners(context: ProvisioningContext, evaluator: AlarmEvaluator) -> Provisioners:
    return {"AWS::CloudWatch::Alarm": partial(_alarm, context, evaluator)}


def _alarm(
    context: ProvisioningContext, evaluator: AlarmEvaluator, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    name = props.get("AlarmName") or context.name(stack, logical_id, 255)
    kwargs = {k: v for k, v in props.items() if k not in ("AlarmName", "Tags")}
    context.client("cloudwatch").put_metric_alarm(AlarmName=name, **kwargs)
    arn = f"arn:aws:cloudwatch:{context.region}:{context.account}:alarm:{name}"
    evaluator.add(LocalAlarm.from_properties(name, arn, props))
    return PhysicalResource(name, {"Arn": arn})
