"""CloudWatch for the local cloud: EMF ingestion and alarm evaluation.

moto's CloudWatch stores metrics but never evaluates alarms. Here:

- Embedded Metric Format documents printed by handlers become datapoints in
  moto's CloudWatch, as CloudWatch Logs turns them into metrics in AWS. They
  are written to moto's CloudWatch backend directly (its own ``put_metric_data``,
  validation included), not through a boto3 client: in AWS this extraction is
  off the request path, and here it runs inside every invocation, where a
  boto3 round trip per document cost milliseconds per request;
- the metrics AWS services publish themselves, for what the local cloud runs: ``AWS/Lambda``
  ``Invocations`` and ``Errors`` per function (``record_invocation``), ``AWS/States``
  ``ExecutionsSucceeded``/``Failed``/``TimedOut``/``Aborted`` per state machine (``record_execution``), both
  stamped with the local cloud's clock, and ``AWS/SQS`` ``ApproximateNumberOfMessagesVisible`` per queue,
  read from moto's queue when an alarm is evaluated. API Gateway's own metrics (``AWS/ApiGateway``) are
  not produced locally: alarms on them see missing data;
- ``AlarmEvaluator.evaluate(now)`` (``now`` defaults to the local cloud's clock) applies each synthesized alarm's
  statistic, period, evaluation periods, datapoints-to-alarm, comparison and
  missing-data treatment to the stored datapoints, sets the alarm state in
  moto, publishes to its SNS actions and puts a "CloudWatch Alarm State
  Change" event on the default bus, shaped as AWS shapes it. A metric-math alarm (``Metrics``) is
  evaluated period by period: each ``MetricStat`` gives its statistic or nothing, then the expression
  (``+ - * /``, comparisons, ``IF``, ``FILL``; anything else is refused when the alarm is provisioned)
  combines them; arithmetic on a missing value is missing, as in CloudWatch.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.sqs.models import sqs_backends

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


_ARITHMETIC: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: lambda a, b: a / b if b else math.nan,
}
_COMPARISONS: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
    ast.GtE: operator.ge,
    ast.Gt: operator.gt,
    ast.LtE: operator.le,
    ast.Lt: operator.lt,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_EXECUTION_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}


@dataclass(frozen=True)
class MetricStat:
    """One metric of an alarm: what ``_values_in`` selects, and the statistic of a period's values."""

    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period_s: int


@dataclass(frozen=True)
class MetricMath:
    """A metric-math alarm's expression over its ``MetricStat`` queries (by id), checked when it is built."""

    expression: str
    metrics: dict[str, MetricStat]

    def __post_init__(self) -> None:
        self._check(ast.parse(self.expression, mode="eval").body)

    def _check(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return
        if isinstance(node, ast.Name):
            if node.id not in self.metrics:
                raise ValueError(f"expression {self.expression!r}: unknown metric id {node.id!r}")
            return
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            return self._check_all(node.left, node.right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self._check(node.operand)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARISONS:
            return self._check_all(node.left, *node.comparators)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            arity = {"IF": 3, "FILL": 2}.get(node.func.id)
            if arity == len(node.args):
                return self._check_all(*node.args)
        raise ValueError(f"expression {self.expression!r}: {ast.unparse(node)!r} is not evaluated by the local cloud")

    def _check_all(self, *nodes: ast.expr) -> None:
        for node in nodes:
            self._check(node)

    def evaluate(self, values: dict[str, float | None]) -> float | None:
        """The expression for one period, given each metric's statistic (None: no datapoint in the period)."""
        return _evaluate(ast.parse(self.expression, mode="eval").body, values)


def _evaluate(node: ast.expr, values: dict[str, float | None]) -> float | None:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)  # checked when the alarm was built
        return float(node.value)
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        return None if operand is None else -operand
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        return None if left is None or right is None else _ARITHMETIC[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left, right = _evaluate(node.left, values), _evaluate(node.comparators[0], values)
        return None if left is None or right is None else float(_COMPARISONS[type(node.ops[0])](left, right))
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    if node.func.id == "FILL":
        value = _evaluate(node.args[0], values)
        return _evaluate(node.args[1], values) if value is None else value
    condition = _evaluate(node.args[0], values)
    if condition is None:
        return None
    return _evaluate(node.args[1] if condition else node.args[2], values)


def _metric_stat(alarm: str, props: dict[str, Any]) -> MetricStat:
    metric = props["Metric"]
    if props.get("Unit"):
        raise ValueError(f"alarm {alarm}: a metric query's Unit is not evaluated by the local cloud")
    return MetricStat(
        namespace=metric["Namespace"],
        metric_name=metric["MetricName"],
        dimensions=tuple(sorted((d["Name"], str(d["Value"])) for d in metric.get("Dimensions", []))),
        statistic=props["Stat"],
        period_s=int(props["Period"]),
    )


def _metric_math(alarm: str, queries: list[dict[str, Any]]) -> tuple[MetricMath, int]:
    """The alarm's expression (the one query returning data) and its metrics' common period."""
    stats = {q["Id"]: _metric_stat(alarm, q["MetricStat"]) for q in queries if "MetricStat" in q}
    returned = [q for q in queries if q.get("ReturnData", True)]
    if len(returned) != 1 or "Expression" not in returned[0]:
        raise ValueError(f"alarm {alarm}: exactly one returned query, an expression, is evaluated locally")
    if len(stats) + 1 != len(queries) or len({m.period_s for m in stats.values()}) != 1:
        raise ValueError(f"alarm {alarm}: one expression over metrics of one period is evaluated locally")
    return MetricMath(returned[0]["Expression"], stats), next(iter(stats.values())).period_s


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
    # A metric-math alarm's expression and metrics (namespace, metric_name and dimensions are then empty).
    math: MetricMath | None = None
    state: str = "INSUFFICIENT_DATA"
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_properties(cls, name: str, arn: str, props: dict[str, Any]) -> LocalAlarm:
        if props["ComparisonOperator"] not in _COMPARE:
            raise ValueError(f"alarm {name}: comparison {props['ComparisonOperator']} is not supported locally")
        evaluation_periods = int(props["EvaluationPeriods"])
        math_alarm, period_s = _metric_math(name, props["Metrics"]) if "Metrics" in props else (None, 0)
        return cls(
            name=name,
            arn=arn,
            namespace=props.get("Namespace", ""),
            metric_name=props.get("MetricName", ""),
            dimensions=list(props.get("Dimensions", [])),
            statistic=props.get("Statistic") or props.get("ExtendedStatistic", "Average"),
            period_s=period_s or int(props.get("Period", 300)),
            math=math_alarm,
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
        # Each series (namespace, metric, sorted dimensions) -> its (timestamp, value) datapoints, as ingested.
        self._series: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[tuple[datetime, float]]] = {}

    def _store(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """``PutMetricData`` on moto's backend; timestamps naive UTC, as moto's request parser leaves them."""
        stored = [{**d, "Timestamp": d["Timestamp"].astimezone(UTC).replace(tzinfo=None)} for d in data]
        cloudwatch_backends[self._account][self._region].put_metric_data(namespace, stored)

    def add(self, alarm: LocalAlarm) -> None:
        self.alarms[alarm.name] = alarm

    def ingest_emf(self, document: dict[str, Any]) -> None:
        for namespace, data in emf_to_metric_data(document):
            if data:
                self._record(namespace, data)

    def record_invocation(self, function_name: str, *, errored: bool) -> None:
        """What Lambda publishes for one invocation (``AWS/Lambda`` Invocations and Errors), at the cloud's clock."""
        at = self._clock()
        dimensions = [{"Name": "FunctionName", "Value": function_name}]
        self._record(
            "AWS/Lambda",
            [
                {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": "Count", "Timestamp": at}
                for name, value in (("Invocations", 1.0), ("Errors", float(errored)))
            ],
        )

    def record_execution(self, event: dict[str, Any]) -> None:
        """What Step Functions publishes when an execution ends (``AWS/States`` Executions<Status>), given its
        "Execution Status Change" event, at the cloud's clock."""
        detail = event["detail"]
        name = _EXECUTION_METRICS.get(detail["status"])
        if name is not None:
            dimensions = [{"Name": "StateMachineArn", "Value": detail["stateMachineArn"]}]
            self._record(
                "AWS/States",
                [
                    {
                        "MetricName": name,
                        "Dimensions": dimensions,
                        "Value": 1.0,
                        "Unit": "Count",
                        "Timestamp": self._clock(),
                    }
                ],
            )

    def _record(self, namespace: str, data: list[dict[str, Any]]) -> None:
        self._store(namespace, data)
        for d in data:
            dimensions = tuple(sorted((x["Name"], x["Value"]) for x in d["Dimensions"]))
            self._series.setdefault((namespace, d["MetricName"], dimensions), []).append((d["Timestamp"], d["Value"]))

    def _values_in(self, metric: MetricStat, start: datetime, end: datetime, now: datetime) -> list[float]:
        if (metric.namespace, metric.metric_name) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible"):
            # A gauge SQS samples; here it is read when the alarm is evaluated, as the current period's value.
            queue = sqs_backends[self._account][self._region].queues.get(dict(metric.dimensions).get("QueueName", ""))
            return [float(queue.approximate_number_of_messages)] if queue is not None and start <= now < end else []
        series = self._series.get((metric.namespace, metric.metric_name, metric.dimensions), [])
        return [value for at, value in series if start <= at < end]

    def _period_value(self, alarm: LocalAlarm, start: datetime, end: datetime, now: datetime) -> float | None:
        """The alarm's value for one period: its metric's statistic, or its expression over its metrics."""
        if alarm.math is None:
            dimensions = tuple(sorted((d["Name"], str(d["Value"])) for d in alarm.dimensions))
            single = MetricStat(alarm.namespace, alarm.metric_name, dimensions, alarm.statistic, alarm.period_s)
            values = self._values_in(single, start, end, now)
            return _statistic(values, alarm.statistic) if values else None
        stats: dict[str, float | None] = {}
        for query_id, metric in alarm.math.metrics.items():
            values = self._values_in(metric, start, end, now)
            stats[query_id] = _statistic(values, metric.statistic) if values else None
        return alarm.math.evaluate(stats)

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
            value = self._period_value(alarm, start, start + period, now)
            if value is not None and not math.isnan(value):
                latest_value = value
                outcomes.append(_COMPARE[alarm.comparison](value, alarm.threshold))
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
            "configuration": {"description": alarm.description, "metrics": _configuration_metrics(alarm)},
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


def _configuration_metrics(alarm: LocalAlarm) -> list[dict[str, Any]]:
    """The alarm's metrics as a state-change event's ``configuration`` lists them."""

    def stat(query_id: str, metric: MetricStat, returned: bool) -> dict[str, Any]:
        return {
            "id": query_id,
            "metricStat": {
                "metric": {
                    "namespace": metric.namespace,
                    "name": metric.metric_name,
                    "dimensions": dict(metric.dimensions),
                },
                "period": metric.period_s,
                "stat": metric.statistic,
            },
            "returnData": returned,
        }

    if alarm.math is None:
        dimensions = tuple((d["Name"], str(d["Value"])) for d in alarm.dimensions)
        return [
            stat(
                "m1", MetricStat(alarm.namespace, alarm.metric_name, dimensions, alarm.statistic, alarm.period_s), True
            )
        ]
    return [
        {"id": "expression", "expression": alarm.math.expression, "returnData": True},
        *(stat(query_id, metric, False) for query_id, metric in alarm.math.metrics.items()),
    ]


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
