"""Partitioned feature runs on the local cloud: two Distributed Maps over a batch folder of part files."""

from __future__ import annotations

import io
import json

import pandas as pd

from functions.feature_store.definitions import CREATED_TIMESTAMP, FeatureView
from functions.feature_store.online import OnlineStatus
from mlops.demo import metadata_of, shipped_dataset_csv
from mlops.local import LocalCloud
from tests.e2e.test_feature_pipeline import executions, land, read_object, stores
from tests.projects import seattle

BATCH = "raw/feature-batches/seattle_weather/2012-q1/"


def shipped_rows(count: int) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(shipped_dataset_csv()), dtype=str, keep_default_na=False).head(count)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def batch_with_a_bad_row_and_a_duplicate() -> list[pd.DataFrame]:
    """60 days in three time-ordered parts; one bad category, and part 2 repeats part 1's last day."""
    days = shipped_rows(60)
    days.loc[5, "weather"] = "hail"
    parts = [days.iloc[0:20], days.iloc[20:40], days.iloc[40:60]]
    repeat = parts[0].tail(1).assign(wind="9.9")
    return [parts[0], pd.concat([repeat, parts[1]]), parts[2]]


def rows_of_write(cloud: LocalCloud, view: FeatureView, run: str) -> pd.DataFrame:
    """The offline rows a run wrote for ``view`` (its manifests' files), ordered, without created_timestamp."""
    offline, _ = stores(cloud)
    files = [f for m in offline.manifests(view) if m.write_id.startswith(run) for f in m.files]
    rows = pd.concat([offline.read_file(f) for f in files], ignore_index=True)
    return rows.drop(columns=[CREATED_TIMESTAMP]).sort_values("event_timestamp").reset_index(drop=True)


def settle(cloud: LocalCloud) -> None:
    """Wait for every execution still running (stored features start retrains in moto's worker threads)."""
    sfn = cloud.client("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        running = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
        for execution in running["executions"]:
            cloud.wait_for_execution(execution["executionArn"])


def test_a_marker_starts_a_partitioned_run_that_stores_what_one_file_of_the_same_data_stores(
    cloud: LocalCloud,
) -> None:
    # Given the same 61 rows as one raw file and as a batch folder of three part files
    parts = batch_with_a_bad_row_and_a_duplicate()
    land(cloud, "raw/features/seattle_weather/2012-q1.csv", csv_bytes(pd.concat(parts)))
    [single] = executions(cloud)
    single_run = cloud.wait_for_execution(single["executionArn"])
    assert single_run.status == "SUCCEEDED", single_run.cause
    for n, part in enumerate(parts):
        land(cloud, f"{BATCH}part-{n:05d}.csv", csv_bytes(part))
    # Then the part files start no run of their own
    assert len(executions(cloud, at_least=1)) == 1
    # When the producer writes the batch's _SUCCESS marker
    land(cloud, f"{BATCH}_SUCCESS", b"")
    [batch] = [e for e in executions(cloud, at_least=2) if e["name"] != single_run.name]
    result = cloud.wait_for_execution(batch["executionArn"])
    # Then the partitioned run succeeds with every row of the batch accounted for, as the single file's
    assert result.status == "SUCCEEDED", result.cause
    single_summary = metadata_of(cloud).get_run(single_run.name).summary
    run = metadata_of(cloud).get_run(result.name)
    assert run.summary is not None and single_summary is not None
    assert run.summary["counts"] == single_summary["counts"] == {"rows_in": 61, "rows_valid": 59, "rows_quarantined": 2}
    assert run.summary["partitions"] == 3 and run.summary["cross_partition_duplicates"] == 1
    assert run.trigger["key"] == f"{BATCH}_SUCCESS"
    report = json.loads(read_object(cloud, run.summary["report_uri"]))
    assert report["reasons"] == {"category": 1, "duplicate": 1}
    assert sum(p["rows_in"] for p in report["partitions"]) == 61
    # And each view's offline rows are the single file's, value for value (weather_7d across part boundaries)
    for view in seattle().feature_views:
        pd.testing.assert_frame_equal(
            rows_of_write(cloud, view, result.name), rows_of_write(cloud, view, single_run.name)
        )
    # And the online store holds the batch's last day
    _, online = stores(cloud)
    [latest] = online.read(seattle().feature_view("weather_7d", 1), [{"station_id": "seattle"}])
    assert latest.event_timestamp is not None and latest.event_timestamp.date().isoformat() == "2012-02-29"

    # When the same batch is ingested again, by hand
    again = cloud.run_state_machine(
        cloud.output("FeatureStateMachineArn"),
        {"source_prefix": f"s3://{cloud.output('DataBucketName')}/{BATCH}", "trigger": {"type": "manual"}},
    )
    # Then it succeeds and stores nothing new: every partition was already ingested
    assert again.status == "SUCCEEDED", again.cause
    repeated = metadata_of(cloud).get_run(again.name).summary
    assert repeated is not None
    assert {(w["view"], w["written"], w["skipped"]) for w in repeated["writes"]} == {
        (view.name, 0, 3) for view in seattle().feature_views
    }
    settle(cloud)


def test_a_batch_over_the_bad_row_fraction_fails_as_a_whole_and_writes_nothing(cloud: LocalCloud) -> None:
    # Given a batch of three parts with 1, 1 and 2 bad rows of 20 (4 of 60 = 6.7% > 5%)
    days = shipped_rows(60)
    for row in (3, 23, 43, 47):
        days.loc[row, "precipitation"] = "-1"
    bucket = cloud.output("DataBucketName")
    for n, start in enumerate((0, 20, 40)):
        cloud.client("s3").put_object(
            Bucket=bucket, Key=f"{BATCH}part-{n}.csv", Body=csv_bytes(days.iloc[start : start + 20])
        )
    # When the batch is started by hand
    result = cloud.run_state_machine(
        cloud.output("FeatureStateMachineArn"),
        {"source_prefix": f"s3://{bucket}/{BATCH}", "trigger": {"type": "manual"}},
    )
    # Then the run fails naming the batch's fraction, and the stores hold nothing
    assert result.status == "FAILED" and result.error == "DataValidationError"
    assert "4 of 60 rows are bad (6.7% > allowed 5.0%)" in (result.cause or "")
    run = metadata_of(cloud).get_run(result.name)
    assert run.status == "FAILED" and run.error is not None and run.error["Error"] == "DataValidationError"
    offline, online = stores(cloud)
    for view in seattle().feature_views:
        assert offline.manifests(view) == []
        assert online.read(view, [{"station_id": "seattle"}])[0].status is OnlineStatus.NOT_FOUND
    report = json.loads(read_object(cloud, f"s3://{offline.bucket}/quarantine/seattle_weather/{result.name}.json"))
    assert (report["rows_in"], report["rows_quarantined"], report["reasons"]) == (60, 4, {"range": 4})


def test_a_failing_partition_fails_the_run_with_a_failure_record(cloud: LocalCloud) -> None:
    # Given a batch whose second part lacks a column
    days = shipped_rows(40)
    bucket = cloud.output("DataBucketName")
    s3 = cloud.client("s3")
    s3.put_object(Bucket=bucket, Key=f"{BATCH}part-0.csv", Body=csv_bytes(days.iloc[:20]))
    s3.put_object(Bucket=bucket, Key=f"{BATCH}part-1.csv", Body=csv_bytes(days.iloc[20:].drop(columns=["wind"])))
    # When the batch runs
    result = cloud.run_state_machine(
        cloud.output("FeatureStateMachineArn"),
        {"source_prefix": f"s3://{bucket}/{BATCH}", "trigger": {"type": "manual"}},
    )
    # Then the run fails, its record says so, and the failed partition's step names the missing column
    assert result.status == "FAILED", result.output
    assert result.error == "States.ExceedToleratedFailureThreshold"
    assert "1 of 2 items failed" in (result.cause or "")
    run = metadata_of(cloud).get_run(result.name)
    assert run.status == "FAILED" and run.error is not None
    assert run.error["Error"] == "States.ExceedToleratedFailureThreshold"
    failed = [s for s in run.steps if s.status == "FAILED"]
    assert [s.step for s in failed] == ["ValidatePartition"]
    assert "missing columns: wind" in (failed[0].error or "")
    offline, _ = stores(cloud)
    assert all(offline.manifests(view) == [] for view in seattle().feature_views)
