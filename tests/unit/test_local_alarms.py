"""The local cloud's alarm evaluator on the alarm shapes the stack deploys: metric math (rates), heartbeats,
and the metrics AWS services publish themselves (Lambda, Step Functions, SQS)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlops.local.alarms import AlarmEvaluator, LocalAlarm

ACCOUNT, REGION = "123456789012", "us-east-1"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Recorder:
    """Stands in for the CloudWatch and SNS clients: what the evaluator set and published."""

    def __init__(self) -> None:
        self.states: list[tuple[str, str]] = []
        self.published: list[str] = []

    def set_alarm_state(self, *, AlarmName: str, StateValue: str, StateReason: str) -> None:
        self.states.append((AlarmName, StateValue))

    def publish(self, *, TopicArn: str, Subject: str, Message: str) -> None:
        self.published.append(Subject)


@pytest.fixture
def evaluator() -> Iterator[tuple[AlarmEvaluator, list[datetime]]]:
    clock = [T0]
    recorder = Recorder()
    with mock_aws():
        yield (
            AlarmEvaluator(
                cloudwatch=recorder,
                sns=recorder,
                put_event=lambda event: None,
                account=ACCOUNT,
                region=REGION,
                clock=lambda: clock[0],
            ),
            clock,
        )


def stat(query_id: str, namespace: str, name: str, dimensions: dict[str, str], statistic: str) -> dict[str, Any]:
    metric = {
        "Namespace": namespace,
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }
    return {"Id": query_id, "MetricStat": {"Metric": metric, "Period": 300, "Stat": statistic}, "ReturnData": False}


def math_alarm(name: str, expression: str, *queries: dict[str, Any], **props: Any) -> LocalAlarm:
    """An alarm with the properties CDK synthesizes for a MathExpression."""
    return LocalAlarm.from_properties(
        name,
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        {
            "Metrics": [{"Id": "expr_1", "Expression": expression, "ReturnData": True}, *queries],
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms"],
            **props,
        },
    )


def server_error_rate_alarm() -> LocalAlarm:
    # As infra/constructs/rates.py synthesizes it for an inference function.
    return math_alarm(
        "ServerErrors",
        "IF(requests >= 20, FILL(errors, 0) / requests, 0)",
        stat("errors", "Mlops/dev", "ServerErrors", {"service": "Inference"}, "Sum"),
        stat("requests", "AWS/Lambda", "Invocations", {"FunctionName": "inference"}, "Sum"),
        Threshold=0.05,
    )


def requests(evaluator: AlarmEvaluator, total: int, failing: int) -> None:
    """``total`` invocations of the inference function, ``failing`` of them answered 500 (its EMF metric)."""
    for i in range(total):
        evaluator.record_invocation("inference", errored=False)
        if i < failing:
            evaluator.ingest_emf(
                {
                    "_aws": {
                        "Timestamp": int(T0.timestamp() * 1000) + i,
                        "CloudWatchMetrics": [
                            {
                                "Namespace": "Mlops/dev",
                                "Dimensions": [["service"]],
                                "Metrics": [{"Name": "ServerErrors"}],
                            }
                        ],
                    },
                    "service": "Inference",
                    "ServerErrors": 1,
                }
            )


@pytest.mark.parametrize(
    ("total", "failing", "state"),
    [
        (5, 5, "OK"),  # every request failed, but too few to judge: a caller cannot fire it with bad requests
        (200, 3, "OK"),  # 1.5 %, under the 5 % limit
        (40, 4, "ALARM"),  # 10 % of enough requests
        (30, 0, "OK"),  # no ServerErrors datapoint at all: FILL makes it 0
    ],
)
def test_server_error_rate_alarm_judges_a_share_of_enough_requests(
    evaluator: tuple[AlarmEvaluator, list[datetime]], total: int, failing: int, state: str
) -> None:
    cloudwatch, _ = evaluator
    alarm = server_error_rate_alarm()
    cloudwatch.add(alarm)
    requests(cloudwatch, total, failing)
    cloudwatch.evaluate(T0)
    assert alarm.state == state


def test_no_traffic_is_missing_data_not_an_alarm(evaluator: tuple[AlarmEvaluator, list[datetime]]) -> None:
    cloudwatch, _ = evaluator
    alarm = server_error_rate_alarm()
    cloudwatch.add(alarm)
    (change,) = cloudwatch.evaluate(T0)
    assert change["detail"]["state"]["value"] == "OK"
    ids = [m["id"] for m in change["detail"]["configuration"]["metrics"]]
    assert ids == ["expression", "errors", "requests"]


@pytest.mark.parametrize(
    "expression",
    ["SUM(METRICS())", "errors ** 2", "ANOMALY_DETECTION_BAND(errors)", "unknown / errors", "a < b < c"],
)
def test_an_expression_the_local_cloud_cannot_evaluate_is_refused_when_provisioned(expression: str) -> None:
    with pytest.raises(ValueError, match="expression"):
        math_alarm("Bad", expression, stat("errors", "Mlops/dev", "ServerErrors", {}, "Sum"), Threshold=1)


def test_failed_timed_out_or_aborted_executions_fire_the_state_machine_alarm(
    evaluator: tuple[AlarmEvaluator, list[datetime]],
) -> None:
    cloudwatch, clock = evaluator
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:features"
    queries = [
        stat(query_id, "AWS/States", name, {"StateMachineArn": arn}, "Sum")
        for query_id, name in (
            ("failed", "ExecutionsFailed"),
            ("timedOut", "ExecutionsTimedOut"),
            ("aborted", "ExecutionsAborted"),
        )
    ]
    alarm = math_alarm("Failures", "FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)", *queries, Threshold=1)
    cloudwatch.add(alarm)
    for status in ("SUCCEEDED", "SUCCEEDED"):
        cloudwatch.record_execution({"detail": {"status": status, "stateMachineArn": arn}})
    cloudwatch.evaluate(T0)
    assert alarm.state == "OK"
    # An execution that timed out (not only one that failed) is one bad execution
    clock[0] = T0 + timedelta(minutes=7)
    cloudwatch.record_execution({"detail": {"status": "TIMED_OUT", "stateMachineArn": arn}})
    cloudwatch.evaluate(clock[0])
    assert alarm.state == "ALARM"


def test_a_message_in_a_dead_letter_queue_fires_its_depth_alarm(
    evaluator: tuple[AlarmEvaluator, list[datetime]],
) -> None:
    cloudwatch, _ = evaluator
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
    alarm = LocalAlarm.from_properties(
        "Depth",
        "arn",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": "dead-letters"}],
            "Statistic": "Maximum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        },
    )
    cloudwatch.add(alarm)
    cloudwatch.evaluate(T0)
    assert alarm.state == "OK"
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    cloudwatch.evaluate(T0)
    assert alarm.state == "ALARM"


def test_function_errors_are_lambdas_own_metric(evaluator: tuple[AlarmEvaluator, list[datetime]]) -> None:
    cloudwatch, _ = evaluator
    alarm = LocalAlarm.from_properties(
        "GuardErrors",
        "arn",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": "guard"}],
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
        },
    )
    cloudwatch.add(alarm)
    cloudwatch.record_invocation("guard", errored=False)
    cloudwatch.record_invocation("other", errored=True)
    cloudwatch.evaluate(T0)
    assert alarm.state == "OK"
    cloudwatch.record_invocation("guard", errored=True)
    cloudwatch.evaluate(T0)
    assert alarm.state == "ALARM"
