"""Monitoring and guarded retraining on the local cloud: drift -> alarm -> EventBridge -> guard -> pipeline."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from functions.monitoring.baseline import build_baseline
from functions.monitoring.monitor_store import MonitorRunStore, store_baseline
from functions.retraining.guard_policy import BUDGET, GuardPolicy
from functions.retraining.guard_store import RetrainGuardStore
from functions.serving.capture_format import capture_lines
from mlops.local import LocalCloud
from mlops.monitor_report import save_report
from tests.helpers import metadata_of, registry_of, upload_raw
from tests.projects import seattle

MODEL = "seattle-weather"
# The last Monday, 00:10 UTC: the dev retrain schedule is cron(0 3 ? * MON *), and
# metric timestamps must lie within CloudWatch's 14 days.
_TODAY = datetime.now(UTC).replace(hour=0, minute=10, second=0, microsecond=0)
START = _TODAY - timedelta(days=_TODAY.weekday() or 7)


@pytest.fixture
def loop(assembly: Path) -> Iterator[LocalCloud]:
    with LocalCloud(assembly, now=START) as cloud:
        yield cloud  # (stopping the cloud lets every running execution end first)


def env_of(cloud: LocalCloud, function: str, name: str) -> str:
    return cloud.runtime.functions[cloud.function_name(function)].environment[name]


def guard_of(cloud: LocalCloud) -> RetrainGuardStore:
    return RetrainGuardStore(cloud.client("dynamodb"), cloud.output("RetrainGuardTableName"), MODEL)


def executions(cloud: LocalCloud) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    found = sfn.list_executions(stateMachineArn=cloud.output("TrainingStateMachineArn"))["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in found]


def weather(rng: np.random.Generator, rows: int, *, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "precipitation": rng.gamma(0.6, 4.0 + 4 * shift, rows),
            "temp_max": rng.normal(16 + 8 * shift, 7, rows),
            "temp_min": rng.normal(8 + 8 * shift, 5, rows),
            "wind": rng.gamma(4.0, 0.8 + shift, rows),
        }
    )


def label_of(frame: pd.DataFrame) -> list[str]:
    return list(np.where(frame["precipitation"] > 2, "rain", "sun"))


def champion_with_baseline(cloud: LocalCloud) -> int:
    """Register a version directly, make it champion, and store its drift baseline (as Register does)."""
    version = (
        registry_of(cloud)
        .register(
            model_name=MODEL,
            artifact_uri="s3://unused/model.joblib",
            artifact_sha256="0" * 64,
            metrics={"accuracy": 0.8},
            params={},
            signature={},
            training_data_uri="s3://unused/raw.csv",
            training_data_sha256="0" * 64,
            run_id="test",
        )
        .version
    )
    registry_of(cloud).approve(MODEL, version, by="test", reason="fixture")
    registry_of(cloud).move_alias(MODEL, "champion", version, by="test", reason="fixture")
    reference = weather(np.random.default_rng(0), 2000)
    features = seattle().model(MODEL).feature_names
    baseline = build_baseline(reference, features, label_of(reference), sample_size=2000, seed=0)
    store_baseline(cloud.client("s3"), cloud.output("ArtifactBucketName"), MODEL, version, baseline)
    return version


def write_captures(cloud: LocalCloud, frame: pd.DataFrame, version: int, at: datetime) -> list[dict[str, Any]]:
    """Captures as the log subscription delivers them (capture lines), one object per hour partition."""
    records = [
        {
            "prediction_id": str(uuid.uuid4()),
            "timestamp": (at + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model_name": MODEL,
            "model_version": version,
            "features": {k: float(v) for k, v in row.items()},
            "prediction": {"label": label, "probabilities": {label: 0.9}},
        }
        for i, ((_, row), label) in enumerate(zip(frame.iterrows(), label_of(frame), strict=True))
    ]
    lines = capture_lines(records).lines
    key = f"captures/model={MODEL}/{at:%Y/%m/%d/%H}/{uuid.uuid4()}.jsonl"
    body = "".join(f"{line}\n" for line in lines).encode()
    cloud.client("s3").put_object(Bucket=cloud.output("CaptureBucketName"), Key=key, Body=body)
    return records


def run_monitor(cloud: LocalCloud, at: datetime) -> dict[str, Any]:
    response = cloud.client("lambda").invoke(
        FunctionName=cloud.function_name("FunctionsMonitor"),
        Payload=json.dumps({"time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "detail-type": "Scheduled Event"}).encode(),
    )
    body = json.loads(response["Payload"].read())
    assert not response.get("FunctionError"), body
    return dict(body)


def alarm_named(cloud: LocalCloud, part: str) -> Any:
    assert cloud.alarms is not None
    (alarm,) = [a for a in cloud.alarms.alarms.values() if part in a.name]
    return alarm


def alarm_event(alarm: Any, at: datetime, value: float) -> dict[str, Any]:
    """A "CloudWatch Alarm State Change" to ALARM, as CloudWatch puts it on the default bus."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [alarm.arn],
        "detail": {
            "alarmName": alarm.name,
            "state": {"value": "ALARM", "reason": "test", "reasonData": json.dumps({"recentDatapoints": [value]})},
            "previousState": {"value": "OK"},
        },
    }


def finished_events(cloud: LocalCloud) -> int:
    return len(cloud.execution_events)


def test_shift_in_captures_fires_the_drift_alarm_which_starts_a_guarded_training_run(
    loop: LocalCloud, tmp_path: Path
) -> None:
    # Given a champion with a baseline, the raw dataset, and an hour of shifted traffic in the capture format
    upload_raw(loop)
    version = champion_with_baseline(loop)
    window_end = START + timedelta(hours=1)
    write_captures(loop, weather(np.random.default_rng(5), 600, shift=1.0), version, START + timedelta(minutes=1))
    # When the monitor runs and the alarms are evaluated
    result = run_monitor(loop, window_end)
    assert loop.alarms is not None
    changes = loop.alarms.evaluate(window_end)
    # Then it finds dataset drift, stores a report linked from its run record
    assert result["status"] == "evaluated" and result["dataset_drift"] is True
    store = MonitorRunStore(loop.client("s3"), loop.output("ArtifactBucketName"))
    (run_id,) = store.run_ids(MODEL)
    record = store.record(MODEL, run_id)
    assert record["report_uri"] == result["report_uri"] and record["captures"] == 600
    assert b"DATASET DRIFT" in store.report(record)
    # And per-feature drift scores are CloudWatch metrics in the stage namespace
    listed = loop.client("cloudwatch").list_metrics(Namespace="Mlops/dev", MetricName="FeatureDriftScore")["Metrics"]
    features = {d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "feature"}
    assert features == set(seattle().model(MODEL).feature_names)
    assert save_report(loop.client("s3"), loop.output("ArtifactBucketName"), MODEL, tmp_path)[1].read_bytes() == (
        store.report(record)
    )
    # And the drift alarm goes to ALARM, which starts exactly one training run with the alarm as its reason
    drift = alarm_named(loop, "DriftAlarm")
    assert [c["detail"]["alarmName"] for c in changes if c["detail"]["state"]["value"] == "ALARM"] == [drift.name]
    (execution,) = executions(loop)
    trigger = json.loads(execution["input"])["trigger"]
    assert trigger["type"] == "alarm" and trigger["source"] == drift.name
    assert trigger["detail"]["metric_value"] == pytest.approx(result["drift_share"])
    # And the trigger names the monitor run whose metrics fired the alarm, with its drift report
    evidence = trigger["detail"]["monitor_run"]
    assert (evidence["run_id"], evidence["dataset_drift"]) == (run_id, True)
    assert evidence["report_uri"] == record["report_uri"]
    bucket, _, key = evidence["record_uri"].removeprefix("s3://").partition("/")
    assert json.loads(loop.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()) == record
    # So the run's lineage starts at that monitor run: monitor run -raised-> trigger -started-> run
    loop.wait_for_execution(execution["executionArn"])
    chain = metadata_of(loop).downstream(f"monitor_run:{MODEL}:{run_id}")
    assert chain.nodes[chain.root].attributes["report_uri"] == record["report_uri"]
    assert [(e.relation, e.target) for e in chain.edges if e.source == chain.root] == [
        ("raised", f"trigger:{execution['name']}")
    ]
    assert f"run:{execution['name']}" in chain.nodes


def test_same_distribution_traffic_does_not_alarm(loop: LocalCloud) -> None:
    version = champion_with_baseline(loop)
    write_captures(loop, weather(np.random.default_rng(6), 600), version, START + timedelta(minutes=1))
    result = run_monitor(loop, START + timedelta(hours=1))
    assert loop.alarms is not None
    loop.alarms.evaluate(START + timedelta(hours=1))
    assert result["status"] == "evaluated" and result["dataset_drift"] is False
    assert alarm_named(loop, "DriftAlarm").state == "OK"
    assert executions(loop) == []


def test_live_quality_drop_fires_the_quality_alarm_which_starts_a_training_run(loop: LocalCloud) -> None:
    # Given traffic whose ground truth, fed back later, disagrees with most predictions
    upload_raw(loop)
    version = champion_with_baseline(loop)
    at = START + timedelta(minutes=1)
    predictions = write_captures(loop, weather(np.random.default_rng(8), 600), version, at)
    feedback = [
        json.dumps(
            {
                "prediction_id": p["prediction_id"],
                # a third right, two thirds wrong
                "label": p["prediction"]["label"] if i % 3 == 0 else "fog",
                "timestamp": (at + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        for i, p in enumerate(predictions[:300])
    ]
    loop.client("s3").put_object(
        Bucket=loop.output("CaptureBucketName"),
        Key=f"feedback/{at:%Y/%m/%d/%H}/{uuid.uuid4()}.jsonl",
        Body="\n".join(feedback).encode(),
    )
    # When the monitor runs three hours later (no traffic in its drift window) and the alarms are evaluated
    result = run_monitor(loop, START + timedelta(hours=3))
    assert loop.alarms is not None
    loop.alarms.evaluate(START + timedelta(hours=3))
    # Then drift is skipped, but quality over the 300 labelled predictions of the look-back is about one third,
    # and the quality alarm starts a run
    assert result["status"] == "skipped"
    record = MonitorRunStore(loop.client("s3"), loop.output("ArtifactBucketName")).record(MODEL, result["run_id"])
    assert record["quality"]["labelled"] == 300
    assert record["quality"]["metrics"]["accuracy"] == pytest.approx(1 / 3, abs=0.01)
    assert record["quality"]["label_delay_s"]["median"] > 0
    assert result["dataset_drift"] is False
    quality = alarm_named(loop, "LiveQualityAlarm")
    assert quality.state == "ALARM"
    (execution,) = executions(loop)
    assert json.loads(execution["input"])["trigger"]["source"] == quality.name


def test_too_small_window_is_skipped_and_never_alarms(loop: LocalCloud) -> None:
    version = champion_with_baseline(loop)
    write_captures(loop, weather(np.random.default_rng(7), 50, shift=3.0), version, START + timedelta(minutes=1))
    result = run_monitor(loop, START + timedelta(hours=1))
    empty = run_monitor(loop, START + timedelta(hours=3))
    assert loop.alarms is not None
    loop.alarms.evaluate(START + timedelta(hours=1))
    assert result["status"] == "skipped" and empty["status"] == "skipped"
    assert alarm_named(loop, "DriftAlarm").state != "ALARM"
    assert executions(loop) == []


def test_alarm_storm_inside_cooldown_starts_one_run(loop: LocalCloud) -> None:
    # Given the raw dataset in place
    upload_raw(loop)
    drift = alarm_named(loop, "DriftAlarm")
    # When ten drift alarms arrive within ten minutes
    for minute in range(10):
        loop.router.put_event(alarm_event(drift, START + timedelta(minutes=minute), 0.75))
    # Then one training run starts, and the other nine were refused by the guard
    (execution,) = executions(loop)
    assert json.loads(execution["input"])["trigger"]["source"] == drift.name
    # And once it ends, its status event releases the lock while the cooldown still holds
    loop.wait_for_execution(execution["executionArn"], timeout_s=240)  # (returns once its status event ran)
    assert finished_events(loop) == 1
    state = guard_of(loop).state(START)
    assert state.lock_holder is None and state.runs_today == 1
    loop.router.put_event(alarm_event(drift, START + timedelta(minutes=30), 0.75))
    assert len(executions(loop)) == 1


def test_failed_run_releases_the_lock_and_daily_budget_is_enforced(loop: LocalCloud) -> None:
    # Given an empty feature store: every training run fails at its first step (BuildTrainingSet finds no rows)
    quality = alarm_named(loop, "LiveQualityAlarm")
    cooldown = int(env_of(loop, "FunctionsRetrainGuard", "MLOPS_RETRAIN_COOLDOWN_SECONDS"))
    budget = int(env_of(loop, "FunctionsRetrainGuard", "MLOPS_RETRAIN_DAILY_BUDGET"))
    assert budget == 2
    for run in range(budget):
        # When the quality alarm fires once per cooldown period
        loop.router.put_event(alarm_event(quality, START + timedelta(seconds=run * (cooldown + 60)), 0.4))
        latest = executions(loop)[0]
        loop.wait_for_execution(latest["executionArn"])  # (returns once its status event ran)
        assert finished_events(loop) == run + 1
        # Then each run fails and its lock is released
        assert executions(loop)[0]["status"] == "FAILED"
        assert guard_of(loop).state(START).lock_holder is None
    # And a third alarm that day, after the cooldown, is refused by the budget
    third = START + timedelta(seconds=budget * (cooldown + 60))
    assert third.date() == START.date()
    loop.router.put_event(alarm_event(quality, third, 0.4))
    assert len(executions(loop)) == budget
    refusal = guard_of(loop).explain(third, GuardPolicy(cooldown_s=cooldown, daily_budget=budget, lock_s=60))
    assert refusal is not None and refusal.outcome == BUDGET


def test_retrain_schedule_fires_through_the_guard_on_the_local_clock(loop: LocalCloud) -> None:
    upload_raw(loop)
    # When the local clock passes Monday 03:00 UTC
    deliveries = loop.router.advance_clock(START + timedelta(hours=3))
    # Then the EventBridge Scheduler schedule invoked the guard, which started a run with the schedule as reason
    (scheduled,) = [d for d in deliveries if d.rule.startswith("schedule/")]
    assert scheduled.ok
    (execution,) = executions(loop)
    trigger = json.loads(execution["input"])["trigger"]
    assert trigger["type"] == "schedule" and trigger["time"] == f"{START:%Y-%m-%d}T03:00:00Z"
    assert trigger["source"] == "Mlops-dev-retrain"


def test_undeliverable_trigger_lands_in_the_dead_letter_queue(loop: LocalCloud) -> None:
    # Given the guard cannot reach its table
    loop.client("dynamodb").delete_table(TableName=loop.output("RetrainGuardTableName"))
    # When the schedule fires and an alarm arrives
    (name,) = loop.scheduler.schedules
    (delivery,) = loop.scheduler.fire(name)
    loop.router.put_event(alarm_event(alarm_named(loop, "DriftAlarm"), START, 0.9))
    # Then both were retried, then dead-lettered with what went wrong
    assert not delivery.ok and delivery.attempts == 4
    sqs = loop.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=loop.output("TriggerDeadLetterQueueUrl"), MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert len(messages) == 2
    assert {"SCHEDULE_ARN" in m["MessageAttributes"] or "RULE_ARN" in m["MessageAttributes"] for m in messages} == {
        True
    }
    assert all("ResourceNotFound" in m["MessageAttributes"]["ERROR_MESSAGE"]["StringValue"] for m in messages)
    assert executions(loop) == []
