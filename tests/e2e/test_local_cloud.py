"""The local cloud's own behaviour, on small hand-written assemblies."""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops.local import LocalCloud
from mlops.local.assembly import AssemblyError
from mlops.local.intrinsics import IntrinsicError
from tests.fixtures import emitting_handler
from tests.fixtures.assemblies import event_wiring, log_subscription, write_assembly


def executions(cloud: LocalCloud) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    (machine,) = sfn.list_state_machines()["stateMachines"]
    found = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    return [cloud.wait_for_execution(e["executionArn"]).__dict__ for e in found]


def dead_letters(cloud: LocalCloud) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName=cloud.physical["Fixture"]["DeadLetters"].attributes["QueueName"])["QueueUrl"]
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])


# The local cloud's clock for the wired fixture: alarms are evaluated at it, and the emitter stamps its
# datapoints 5 s after it, inside the same one-minute period, however long the test takes. (A day back from
# today, at :10 past a minute: CloudWatch takes datapoints up to two weeks old.)
CLOCK = (datetime.now(UTC) - timedelta(days=1)).replace(second=10, microsecond=0)


def emit(cloud: LocalCloud, errors: int) -> None:
    at_ms = int((CLOCK + timedelta(seconds=5)).timestamp() * 1000)
    payload = json.dumps({"errors": errors, "at_ms": at_ms}).encode()
    cloud.client("lambda").invoke(FunctionName=cloud.function_name("Emitter"), Payload=payload)


@pytest.fixture
def wired(tmp_path: Path) -> Any:
    with LocalCloud(write_assembly(tmp_path, event_wiring()), now=CLOCK) as cloud:
        yield cloud


def test_lambda_runs_template_handler_with_template_environment(wired: LocalCloud) -> None:
    name = wired.function_name("Emitter")
    response = wired.client("lambda").invoke(FunctionName=name, Payload=json.dumps({"a": 1}).encode())
    assert json.loads(response["Payload"].read()) == {"seen": {"a": 1}, "stage": "Fixture-stage", "function": name}


def test_lambda_error_is_reported_with_its_type(wired: LocalCloud) -> None:
    response = wired.client("lambda").invoke(
        FunctionName=wired.function_name("Emitter"), Payload=json.dumps({"fail": True}).encode()
    )
    assert response["FunctionError"]
    body = json.loads(response["Payload"].read())
    assert (body["errorType"], body["errorMessage"]) == ("RuntimeError", "asked to fail")


def test_alarm_state_change_reaches_step_functions_through_eventbridge(wired: LocalCloud) -> None:
    # Given a handler that emitted an Errors datapoint (EMF on stdout)
    emit(wired, 3)
    assert wired.alarms is not None
    # When the alarms are evaluated
    changes = wired.alarms.evaluate()
    # Then the alarm goes to ALARM, shaped as CloudWatch shapes the event, and the rule starts the machine
    (change,) = changes
    assert change["detail-type"] == "CloudWatch Alarm State Change"
    assert change["detail"]["state"]["value"] == "ALARM"
    assert change["detail"]["previousState"]["value"] == "INSUFFICIENT_DATA"
    alarm_name = change["detail"]["alarmName"]
    described = wired.client("cloudwatch").describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
    assert described["StateValue"] == "ALARM"
    (execution,) = executions(wired)
    assert execution["status"] == "SUCCEEDED"
    assert execution["output"]["seen"] == {"trigger": {"type": "alarm", "alarm": alarm_name}}
    # And evaluating again without change starts nothing more
    assert wired.alarms.evaluate() == []
    assert len(executions(wired)) == 1


def test_alarm_stays_ok_below_threshold(wired: LocalCloud) -> None:
    emit(wired, 0)
    assert wired.alarms is not None
    (change,) = wired.alarms.evaluate()
    assert change["detail"]["state"]["value"] == "OK"
    assert executions(wired) == []


def test_schedule_fires_on_demand_and_by_the_local_clock(wired: LocalCloud) -> None:
    rule = wired.physical["Fixture"]["Hourly"].ref
    (delivery,) = wired.router.fire_schedule(rule)
    assert delivery.ok
    start = wired.router.clock
    deliveries = wired.router.advance_clock(start + timedelta(hours=3, minutes=5))
    assert [d.ok for d in deliveries] == [True, True, True]
    emitter = wired.runtime.functions[wired.function_name("Emitter")]
    assert emitter.invocations == 4


def test_undeliverable_event_is_retried_then_dead_lettered(wired: LocalCloud) -> None:
    wired.client("events").put_events(Entries=[{"Source": "fixture.app", "DetailType": "x", "Detail": "{}"}])
    (delivery,) = [d for d in wired.router.deliveries if d.rule.startswith("Fixture-ToNowhere")]
    assert not delivery.ok
    assert delivery.attempts == 3
    (message,) = dead_letters(wired)
    assert message["MessageAttributes"]["TARGET_ARN"]["StringValue"].endswith(":stateMachine:missing")
    assert "StateMachineDoesNotExist" in message["MessageAttributes"]["ERROR_MESSAGE"]["StringValue"]


def test_unemulated_types_are_reported_by_name(wired: LocalCloud) -> None:
    (entry,) = [e for e in wired.report.not_emulated if e[1] == "Catalog"]
    assert entry[2] == "AWS::Glue::Crawler"
    assert "not emulated" in entry[3]


def test_unknown_intrinsic_is_a_clear_error(tmp_path: Path) -> None:
    resources = {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Base64": "abc"}}}}
    with pytest.raises(IntrinsicError, match=r"Fixture/Queue\.QueueName\.Fn::Base64.*not supported"):
        LocalCloud(write_assembly(tmp_path, resources)).start()


def test_missing_substitution_is_a_clear_error(tmp_path: Path) -> None:
    resources = event_wiring()
    del resources["Machine"]["Properties"]["DefinitionSubstitutions"]
    with pytest.raises(ValueError, match="placeholders with no substitution: Fn"):
        LocalCloud(write_assembly(tmp_path, resources)).start()


def test_a_function_past_its_template_timeout_fails_as_lambda_reports_it(tmp_path: Path) -> None:
    # Given the emitter with a 1 s timeout in its template
    resources = event_wiring()
    resources["Emitter"]["Properties"]["Timeout"] = 1
    with LocalCloud(write_assembly(tmp_path, resources)) as cloud:
        name = cloud.function_name("Emitter")
        # When an invocation runs longer than that
        response = cloud.client("lambda").invoke(FunctionName=name, Payload=b'{"delay_s": 1.2}')
        # Then it fails with Lambda's timeout error and its answer is discarded
        assert response["FunctionError"]
        body = json.loads(response["Payload"].read())
        assert body["errorType"] == "Sandbox.Timedout"
        assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
        # And a quick one still answers
        quick = cloud.client("lambda").invoke(FunctionName=name, Payload=b"{}")
        assert "FunctionError" not in quick


@pytest.mark.parametrize(("pad_bytes", "status"), [(250 * 1024, "SUCCEEDED"), (256 * 1024, "FAILED")])
def test_a_state_result_of_256_kib_or_more_fails_the_execution_as_step_functions_does(
    wired: LocalCloud, pad_bytes: int, status: str
) -> None:
    # Given the machine's one Lambda step, asked to answer with about pad_bytes of JSON
    machine = wired.physical["Fixture"]["Machine"].ref
    # When it runs
    result = wired.run_state_machine(machine, {"pad_bytes": pad_bytes})
    # Then a result under Step Functions' 256 KiB payload quota passes on, and one at or past it fails the execution
    assert result.status == status
    if status == "FAILED":
        assert result.error == "States.DataLimitExceeded"
        assert "exceeding the maximum number of bytes service limit" in str(result.cause)


def test_a_function_s_output_after_a_nested_invocation_is_still_its_own_log(
    wired: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a function that invokes another synchronously on its thread, then writes to stdout and stderr
    name = wired.function_name("Emitter")
    function = wired.runtime.functions[name]
    wired.client("lambda").invoke(FunctionName=name, Payload=json.dumps({"invoke": name}).encode())
    # Then both lines are in the function's log (where EMF becomes metrics), and none reached the console
    assert {"outer: after the nested invocation", "outer: on stderr"} <= set(function.log)
    assert function.invocations == 2
    printed = capsys.readouterr()
    assert "outer:" not in printed.out and "outer:" not in printed.err


def test_a_running_function_s_environment_is_its_thread_s_alone(wired: LocalCloud) -> None:
    # Given an execution whose Lambda step is running, held, on the execution's thread
    emitting_handler.STARTED.clear()
    emitting_handler.RELEASE.clear()
    machine = wired.physical["Fixture"]["Machine"].ref
    arn = wired.client("stepfunctions").start_execution(stateMachineArn=machine, input='{"hold": true}')["executionArn"]
    assert emitting_handler.STARTED.wait(timeout=30)
    try:
        # When this thread reads and writes the environment meanwhile
        seen_here = os.environ.get("FIXTURE_STAGE")
        os.environ["SET_OUTSIDE_THE_FUNCTION"] = "kept"
    finally:
        emitting_handler.RELEASE.set()
    result = wired.wait_for_execution(arn)
    try:
        # Then it saw none of the function's variables, the function saw its own, and this thread's write survived
        assert seen_here is None
        assert result.status == "SUCCEEDED" and result.output["stage"] == "Fixture-stage"
        assert os.environ["SET_OUTSIDE_THE_FUNCTION"] == "kept"
    finally:
        del os.environ["SET_OUTSIDE_THE_FUNCTION"]


def test_stopping_a_cloud_lets_its_running_executions_end_first(tmp_path: Path) -> None:
    # Given an execution still running (its Lambda step takes a while)
    cloud = LocalCloud(write_assembly(tmp_path, event_wiring()))
    cloud.start()
    machine = cloud.physical["Fixture"]["Machine"].ref
    started = cloud.client("stepfunctions").start_execution(stateMachineArn=machine, input='{"delay_s": 0.3}')
    arn = started["executionArn"]
    emitter = cloud.runtime.functions[cloud.function_name("Emitter")]
    # When the cloud is stopped
    cloud.stop()
    # Then the execution ended, and its step ran, before moto went away (no thread outlives its cloud)
    ended = [e["detail"]["status"] for e in cloud.execution_events if e["detail"]["executionArn"] == arn]
    assert ended == ["SUCCEEDED"]
    assert emitter.invocations == 1


def test_clock_starts_at_given_time(tmp_path: Path) -> None:
    start = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    cloud = LocalCloud(write_assembly(tmp_path, event_wiring()), now=start)
    assert cloud.router.clock == start
    time.sleep(0)


def test_scheduled_rule_does_not_receive_other_events(wired: LocalCloud) -> None:
    # Given a scheduled rule whose target is the emitter function
    emitter = wired.runtime.functions[wired.function_name("Emitter")]
    before = emitter.invocations
    # When an unrelated event is put on the default bus
    wired.client("events").put_events(Entries=[{"Source": "fixture.app", "DetailType": "x", "Detail": "{}"}])
    # Then the schedule's target is not invoked (only its own Scheduled Events reach it)
    assert emitter.invocations == before
    assert not [d for d in wired.router.deliveries if d.rule.startswith("Fixture-Hourly")]


CAPTURE = json.dumps({"mlops": {"kind": "capture"}, "records": [{"id": 1}, {"id": 2}]})
PRINTED = [CAPTURE, '{"level": "INFO", "message": "not a capture"}', '{"mlops": {"kind": "other"}}', "plain text"]


def delivered(cloud: LocalCloud) -> list[bytes]:
    s3, bucket = cloud.client("s3"), cloud.physical["Fixture"]["Bucket"].ref
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="delivered/").get("Contents", [])]
    return [s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys]


def test_subscription_filter_delivers_matching_log_lines_as_firehose_processors_shape_them(tmp_path: Path) -> None:
    # Given a function whose log group is subscribed to a Firehose stream with message extraction
    with LocalCloud(write_assembly(tmp_path, log_subscription())) as cloud:
        # When it prints a capture line among other log lines
        cloud.client("lambda").invoke(
            FunctionName=cloud.function_name("Printer"), Payload=json.dumps({"lines": PRINTED})
        )
        # Then only that line reaches the bucket, as its own newline-ended record
        assert delivered(cloud) == [CAPTURE.encode() + b"\n"]


def test_without_processors_firehose_stores_the_gzip_cloudwatch_logs_batch(tmp_path: Path) -> None:
    with LocalCloud(write_assembly(tmp_path, log_subscription(processors=[]))) as cloud:
        name = cloud.function_name("Printer")
        cloud.client("lambda").invoke(FunctionName=name, Payload=json.dumps({"lines": PRINTED}))
        (body,) = delivered(cloud)
    document = json.loads(gzip.decompress(body))
    assert document["messageType"] == "DATA_MESSAGE"
    assert document["logGroup"] == cloud.physical["Fixture"]["Logs"].ref
    assert [event["message"] for event in document["logEvents"]] == [CAPTURE]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pattern": '{ $.mlops.kind = "capt*" }'}, "is not emulated locally"),
        ({"pattern": "ERROR"}, "is not emulated locally"),
        ({"processors": [{"Type": "Lambda", "Parameters": []}]}, "processor(s) Lambda"),
    ],
)
def test_unsupported_subscriptions_are_refused_by_name(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with (
        pytest.raises(AssemblyError, match=re.escape(message)),
        LocalCloud(write_assembly(tmp_path, log_subscription(**change))),
    ):
        pass
