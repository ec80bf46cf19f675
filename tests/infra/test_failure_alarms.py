"""Everything that can fail unwatched has an alarm on the alarm topic; server errors alarm on a rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import STAGES


@pytest.fixture
def resources(example_assembly: Path) -> dict[str, Any]:
    """Each shipped example's dev template."""
    template: dict[str, Any] = json.loads((example_assembly / "Mlops-dev.template.json").read_text())
    return template["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def watched(alarm: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(namespace, metric, the logical id its dimension names) of each metric an alarm reads."""
    props = alarm["Properties"]
    stats = (
        [q["MetricStat"]["Metric"] for q in props["Metrics"] if "MetricStat" in q] if "Metrics" in props else [props]
    )
    out = []
    for metric in stats:
        for dimension in metric.get("Dimensions", []):
            value = dimension["Value"]
            target = value.get("Ref") or value.get("Fn::GetAtt", [""])[0] if isinstance(value, dict) else value
            out.append((metric["Namespace"], metric["MetricName"], target))
    return out


def alarmed(resources: dict[str, Any]) -> set[tuple[str, str, str]]:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    for alarm in alarms:
        (action,) = alarm["Properties"]["AlarmActions"]
        assert action["Ref"].startswith("AlarmTopic"), alarm["Properties"]["AlarmDescription"]
    return {w for alarm in alarms for w in watched(alarm)}


def unattended_functions(resources: dict[str, Any]) -> set[str]:
    """Functions no caller waits on: rule and schedule targets, and whatever is set up for async invocation."""
    arns = [t["Arn"] for r in of_type(resources, "AWS::Events::Rule").values() for t in r["Properties"]["Targets"]]
    arns += [s["Properties"]["Target"]["Arn"] for s in of_type(resources, "AWS::Scheduler::Schedule").values()]
    targets = {a["Fn::GetAtt"][0] for a in arns if isinstance(a, dict) and "Fn::GetAtt" in a}
    asynchronous = {
        c["Properties"]["FunctionName"]["Ref"] for c in of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    }
    dead_lettered = {
        k for k, f in of_type(resources, "AWS::Lambda::Function").items() if "DeadLetterConfig" in f["Properties"]
    }
    return (targets | asynchronous | dead_lettered) & set(of_type(resources, "AWS::Lambda::Function"))


def test_every_state_machine_alarms_on_failed_timed_out_and_aborted_executions(resources: dict[str, Any]) -> None:
    machines = of_type(resources, "AWS::StepFunctions::StateMachine")
    assert len(machines) >= 3  # training, feature pipeline, batch inference
    seen = alarmed(resources)
    for machine in machines:
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
            assert ("AWS/States", metric, machine) in seen, (machine, metric)


def test_every_dead_letter_queue_alarms_on_any_visible_message(resources: dict[str, Any]) -> None:
    queues = of_type(resources, "AWS::SQS::Queue")
    assert len(queues) >= 3
    seen = alarmed(resources)
    for queue in queues:
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue) in seen, queue
    for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values():
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible":
            assert (alarm["Properties"]["Threshold"], alarm["Properties"]["ComparisonOperator"]) == (
                0,
                "GreaterThanThreshold",
            )


def test_every_unattended_function_alarms_on_its_errors(resources: dict[str, Any]) -> None:
    functions = unattended_functions(resources)
    handlers = {resources[f]["Properties"]["ImageConfig"]["Command"][0].split(".")[2] for f in functions}
    assert {"monitor", "retrain_guard", "deploy_model"} <= handlers
    seen = alarmed(resources)
    for function in functions:
        assert ("AWS/Lambda", "Errors", function) in seen, function


def test_every_capture_delivery_stream_alarms_on_failed_deliveries(resources: dict[str, Any]) -> None:
    streams = of_type(resources, "AWS::KinesisFirehose::DeliveryStream")
    assert streams
    seen = alarmed(resources)
    for stream in streams:
        assert ("AWS/Firehose", "DeliveryToS3.Success", stream) in seen, stream


def test_the_monitor_has_a_heartbeat_that_breaches_when_it_stops_reporting(resources: dict[str, Any]) -> None:
    (heartbeat,) = [a["Properties"] for k, a in resources.items() if "MonitorHeartbeat" in k]
    assert heartbeat["TreatMissingData"] == "breaching"
    assert (heartbeat["MetricName"], heartbeat["Statistic"]) == ("WindowSkipped", "SampleCount")
    assert heartbeat["ComparisonOperator"] == "LessThanThreshold" and heartbeat["Threshold"] == 1
    assert heartbeat["Period"] == STAGES["dev"].monitor_window_minutes * 60


def test_server_error_alarms_judge_a_rate_over_enough_requests(resources: dict[str, Any]) -> None:
    config = STAGES["dev"]
    rates = [
        a["Properties"]
        for k, a in resources.items()
        if a["Type"] == "AWS::CloudWatch::Alarm" and ("ServerErrorsAlarm" in k or "Api5xxRate" in k)
    ]
    assert len(rates) == 2
    for alarm in rates:
        (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
        assert expression == f"IF(requests >= {config.alarm_min_requests}, FILL(errors, 0) / requests, 0)"
        assert alarm["Threshold"] == config.api_5xx_rate_alarm < 1
        names = {q["Id"]: q["MetricStat"]["Metric"]["MetricName"] for q in alarm["Metrics"] if "MetricStat" in q}
        assert names in (
            {"errors": "ServerErrors", "requests": "Invocations"},
            {"errors": "5XXError", "requests": "Count"},
        )
