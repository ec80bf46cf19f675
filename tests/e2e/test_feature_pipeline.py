"""The feature pipeline on the local cloud: started by an S3 event, through success and failure."""

from __future__ import annotations

import io
import time
from typing import Any

import pandas as pd

from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.online import OnlineStatus
from functions.feature_store.online_store import OnlineStore
from mlops.demo import metadata_of, shipped_dataset_csv
from mlops.local import LocalCloud
from tests.projects import seattle


def raw_with_bad_rows(rows: int, bad: int) -> bytes:
    frame = pd.read_csv(io.BytesIO(shipped_dataset_csv()), dtype=str).head(rows)
    for n in range(bad):
        frame.loc[n * 3 + 1, "weather"] = "hail"
    return frame.to_csv(index=False).encode()


def land(cloud: LocalCloud, key: str, body: bytes) -> None:
    cloud.client("s3").put_object(Bucket=cloud.output("DataBucketName"), Key=key, Body=body)


def executions(cloud: LocalCloud, at_least: int = 1) -> list[dict[str, Any]]:
    sfn, arn = cloud.client("stepfunctions"), cloud.output("FeatureStateMachineArn")
    started = time.monotonic()
    while True:
        listed = sfn.list_executions(stateMachineArn=arn)["executions"]
        if len(listed) >= at_least or time.monotonic() - started > 30:
            return listed


def read_object(cloud: LocalCloud, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body: bytes = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def stores(cloud: LocalCloud) -> tuple[OfflineStore, OnlineStore]:
    return (
        OfflineStore(cloud.client("s3"), cloud.output("FeatureOfflineBucketName")),
        OnlineStore(cloud.client("dynamodb"), cloud.output("FeatureOnlineTableName")),
    )


def test_new_raw_data_starts_the_pipeline_which_quarantines_stores_and_materializes(cloud: LocalCloud) -> None:
    # Given a raw file with 1 bad row in 40 (under the 5% limit), landed under raw/features/
    land(cloud, "raw/features/seattle_weather/2012-q1.csv", raw_with_bad_rows(40, 1))
    # When the S3 event reaches the pipeline
    [execution] = executions(cloud)
    result = cloud.wait_for_execution(execution["executionArn"])
    # Then it succeeds, with every row accounted for
    assert result.status == "SUCCEEDED", result.cause
    # And the stored features ask for a retrain through the guard (no schedule fires on an S3 event):
    # exactly one training run, whose trigger names the feature-pipeline execution
    # (the wait returned once the execution's status-change event reached its targets)
    sfn, training_arn = cloud.client("stepfunctions"), cloud.output("TrainingStateMachineArn")
    (started,) = sfn.list_executions(stateMachineArn=training_arn)["executions"]
    trained = cloud.wait_for_execution(started["executionArn"])
    trigger = metadata_of(cloud).get_run(trained.name).trigger
    assert (trigger["type"], trigger["source"]) == ("new_data", execution["executionArn"])
    run = metadata_of(cloud).get_run(result.name)
    assert run.status == "SUCCEEDED" and run.trigger["type"] == "s3"
    assert run.trigger["key"] == "raw/features/seattle_weather/2012-q1.csv"
    assert run.summary is not None
    assert run.summary["counts"] == {"rows_in": 40, "rows_valid": 39, "rows_quarantined": 1}
    assert [s.step for s in run.steps] == ["Validate", "Transform", "WriteOffline", "Materialize"]
    offline, online = stores(cloud)
    quarantined = pd.read_parquet(io.BytesIO(read_object(cloud, run.summary["quarantine_uri"])))
    assert list(quarantined["source_row"]) == ["1"]
    assert all(quarantined["quarantine_reason"].str.startswith("category: weather"))
    for view in seattle().feature_views:
        rows, files = offline.read(view)
        assert len(rows) == 39 and files
    [latest] = online.read(seattle().feature_view("daily_weather", 1), [{"station_id": "seattle"}])
    # Online reads enforce the 2-day TTL against today's clock: 2012 data is EXPIRED, not PRESENT.
    assert latest.status is OnlineStatus.EXPIRED
    assert latest.event_timestamp is not None and latest.event_timestamp.date().isoformat() == "2012-02-09"


def test_too_many_bad_rows_fail_the_run_and_write_nothing_to_the_stores(cloud: LocalCloud) -> None:
    # Given a raw file with 10 bad rows in 60 (17% > 5%)
    arn = cloud.output("FeatureStateMachineArn")
    bucket = cloud.output("DataBucketName")
    cloud.client("s3").put_object(Bucket=bucket, Key="manual/bad.csv", Body=raw_with_bad_rows(60, 10))
    # When the pipeline is started by hand
    result = cloud.run_state_machine(
        arn, {"source_uri": f"s3://{bucket}/manual/bad.csv", "trigger": {"type": "manual"}}
    )
    # Then the run failed with a clear error, and the quarantine still shows every bad row
    assert result.status == "FAILED"
    assert result.error == "DataValidationError"
    assert "raw feature files must be under raw/features/" in (result.cause or "")

    # And landed where it belongs, with two malformed lines more (a field too many, fields missing)
    malformed = b"2016-01-01,0.0,5.6,0.0,2.5,sun,extra\n2016-01-02,1.0\n"
    land(cloud, "raw/features/seattle_weather/bad.csv", raw_with_bad_rows(60, 10) + malformed)
    [execution] = [e for e in executions(cloud, at_least=2) if e["name"] != result.name]
    failed = cloud.wait_for_execution(execution["executionArn"])
    assert failed.status == "FAILED" and failed.error == "DataValidationError"
    assert "12 of 62 rows are bad" in (failed.cause or "") and "malformed=2" in (failed.cause or "")
    run = metadata_of(cloud).get_run(failed.name)
    assert run.status == "FAILED" and run.error is not None and run.error["Error"] == "DataValidationError"
    offline, online = stores(cloud)
    report = read_object(cloud, f"s3://{offline.bucket}/quarantine/seattle_weather/{failed.name}.json")
    assert b'"rows_quarantined": 12' in report and b'"rows_valid": 50' in report
    quarantined = pd.read_parquet(
        io.BytesIO(read_object(cloud, f"s3://{offline.bucket}/quarantine/seattle_weather/{failed.name}.parquet"))
    )
    lines = quarantined.dropna(subset=["source_line"])
    assert list(lines["source_line"]) == ["62", "63"] and list(lines["raw_line"]) == malformed.decode().split()
    for view in seattle().feature_views:
        assert offline.manifests(view) == []
        assert online.read(view, [{"station_id": "seattle"}])[0].status is OnlineStatus.NOT_FOUND
