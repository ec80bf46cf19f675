"""Batch inference on the local cloud: partitions or an entity file, results through ResultWriter, a run record,
captures the monitor reads, and a malformed entity file refused before any partition starts."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from functions.monitoring.monitor_store import CaptureStore
from functions.shared.objects import S3Uri
from mlops import operator_output
from mlops.cli import build_parser, guarded, run_operator
from mlops.demo import backfill_features, metadata_of
from mlops.local import LocalCloud
from mlops.operator import Backend
from tests.helpers import run_training, shipped_frame, upload_raw

MODEL = "seattle-weather"
FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]


def put_parquet(cloud: LocalCloud, bucket: str, key: str, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def read_json(cloud: LocalCloud, uri: str) -> Any:
    location = S3Uri.parse(uri)
    return json.loads(cloud.client("s3").get_object(Bucket=location.bucket, Key=location.key)["Body"].read())


def read_outputs(cloud: LocalCloud, manifest: dict[str, Any]) -> pd.DataFrame:
    s3 = cloud.client("s3")
    frames = []
    for partition in manifest["partitions"]:
        uri = S3Uri.parse(partition["output_uri"])
        frames.append(pd.read_parquet(io.BytesIO(s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read())))
    return pd.concat(frames, ignore_index=True)


def run_batch(cloud: LocalCloud, payload: dict[str, Any], name: str) -> Any:
    return cloud.run_state_machine(cloud.output("BatchInferenceStateMachineArn"), payload, name=name)


@pytest.fixture(scope="module")
def served(assembly: Path) -> Iterator[LocalCloud]:
    """One cloud for the module: a champion trained from the shipped data, summer 2015 backfilled into the store."""
    with LocalCloud(assembly) as cloud:
        assert run_training(cloud, upload_raw(cloud)).status == "SUCCEEDED"
        summer = shipped_frame().query("'2015-06-25' <= date <= '2015-08-31'")
        loaded = backfill_features(cloud, summer.to_csv(index=False).encode())
        assert loaded.status == "SUCCEEDED", loaded.cause
        yield cloud


def test_batch_inference_predicts_every_partition_records_the_run_and_captures_for_the_monitor(
    served: LocalCloud,
) -> None:
    cloud = served
    # Given three Hive-style partitions, one with an invalid row
    bucket = S3Uri.parse(cloud.output("RawDatasetUri")).bucket
    frame = shipped_frame()[["date", *FEATURES]]
    parts = {f"batch-input/day/event_date=2015-0{i}/part.parquet": frame.iloc[i * 40 : (i + 1) * 40] for i in (1, 2, 3)}
    broken = parts["batch-input/day/event_date=2015-02/part.parquet"].copy()
    broken.loc[broken.index[0], "wind"] = np.nan
    parts["batch-input/day/event_date=2015-02/part.parquet"] = broken
    for key, part in parts.items():
        put_parquet(cloud, bucket, key, part)
    # When the batch runs over the prefix
    result = run_batch(cloud, {"input_uri": f"s3://{bucket}/batch-input/day/"}, "batch-prefix")
    # Then every input row comes out, predicted by the champion (v1), the invalid one kept and explained
    assert result.status == "SUCCEEDED", result.cause
    assert (result.output["rows"], result.output["invalid_rows"], result.output["partitions"]) == (120, 1, 3)
    manifest = read_json(cloud, result.output["manifest_uri"])
    assert (manifest["model_name"], manifest["version"]) == (MODEL, 1)
    for partition in manifest["partitions"]:
        assert partition["output_uri"].endswith(partition["key"].removeprefix("batch-input/day/"))
    combined = read_outputs(cloud, manifest)
    assert len(combined) == 120 and set(combined["model_version"]) == {1}
    invalid = combined[combined["status"] == "INVALID"]
    assert len(invalid) == 1 and "wind" in invalid["reason"].iloc[0] and invalid["prediction_id"].isna().all()
    scored = combined[combined["status"] == "OK"]
    assert scored["prediction"].isin(["drizzle", "fog", "rain", "snow", "sun"]).all()
    assert scored["prediction_id"].is_unique
    # And the partitions' results reached Summarize through ResultWriter's files, not the state
    sfn = cloud.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=result.arn, maxResults=1000)["events"]
    (map_output,) = [
        json.loads(e["stateExitedEventDetails"]["output"])["map"]
        for e in history
        if e.get("stateExitedEventDetails", {}).get("name") == "PredictPartitions"
    ]
    written = map_output["ResultWriterDetails"]
    assert written["Key"].startswith("batch/map-results/") and written["Key"].endswith("/manifest.json")
    files = read_json(cloud, f"s3://{written['Bucket']}/{written['Key']}")["ResultFiles"]
    (succeeded,) = files["SUCCEEDED"]
    entries = read_json(cloud, f"s3://{written['Bucket']}/{succeeded['Key']}")
    assert sorted(json.loads(e["Output"])["key"] for e in entries) == sorted(parts)
    # And the run is recorded: model version and input as params, counts and output as the summary
    run = metadata_of(cloud).get_run("batch-prefix")
    assert (run.pipeline, run.status) == ("batch_inference", "SUCCEEDED")
    assert run.params == {"model_name": MODEL, "model_version": 1, "input": f"prefix s3://{bucket}/batch-input/day/"}
    assert run.summary is not None and (run.summary["rows"], run.summary["partitions"]) == (120, 3)
    assert run.summary["output"] == result.output["manifest_uri"]
    listed = metadata_of(cloud).list_runs("batch_inference")
    assert "batch-prefix" in [r.run_id for r in listed]
    shown = operator_output.run_tables(run)[0]
    assert "summary" in [str(cell) for cell in shown.columns[0].cells]
    # And the monitor reads the scored rows as captures, marked as batch, with the ids of the output rows
    started = datetime.fromisoformat(run.started_at)
    captures, rejected, _ = CaptureStore(cloud.client("s3"), cloud.output("CaptureBucketName")).captures(
        MODEL, started - timedelta(minutes=1), started + timedelta(minutes=1)
    )
    assert rejected == [] and len(captures) == 119
    assert set(captures["prediction_id"]) == set(scored["prediction_id"])
    raw_key = next(
        item["Key"]
        for item in cloud.client("s3").list_objects_v2(Bucket=cloud.output("CaptureBucketName"), Prefix="captures/")[
            "Contents"
        ]
        if "batch-batch-prefix-" in item["Key"]
    )
    line = cloud.client("s3").get_object(Bucket=cloud.output("CaptureBucketName"), Key=raw_key)["Body"].readline()
    assert json.loads(line)["records"][0]["source"] == "batch"


def test_an_entity_file_is_scored_with_the_offline_point_in_time_join(
    served: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = served
    # Given an entity file: the station on three days in the store, one of them at noon, and one day not stored
    bucket = S3Uri.parse(cloud.output("RawDatasetUri")).bucket
    stamps = ["2015-07-01T00:00:00Z", "2015-07-02T12:00:00Z", "2015-08-15T00:00:00Z", "2014-01-10T00:00:00Z"]
    entities = pd.DataFrame({"station_id": "seattle", "event_timestamp": pd.to_datetime(stamps, utc=True)})
    put_parquet(cloud, bucket, "batch-input/entities/days.parquet", entities)
    # When an operator scores it (`mlops batch --entities URI --local`)
    uri = f"s3://{bucket}/batch-input/entities/days.parquet"
    command = ["batch", "--entities", uri, "--name", "batch-entities", "--local", "--output", "json"]
    args = build_parser().parse_args(command)
    assert run_operator(args, Backend.from_cloud(cloud)) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["run"]["pipeline"]) == ("SUCCEEDED", "batch_inference")
    # Then each entity row comes out once, with the features the store held at its time
    assert (shown["run"]["summary"]["rows"], shown["run"]["summary"]["invalid_rows"]) == (4, 1)
    out = read_outputs(cloud, read_json(cloud, shown["run"]["summary"]["output"]))
    out = out.sort_values("event_timestamp").reset_index(drop=True)
    days = shipped_frame().set_index("date")
    for row, day in ((1, "2015-07-01"), (2, "2015-07-02"), (3, "2015-08-15")):
        assert out.loc[row, FEATURES].tolist() == days.loc[day, FEATURES].tolist()
        assert out.loc[row, "status"] == "OK"
    # (the day before the stored history has no features within the view's TTL: kept, not predicted)
    assert out.loc[0, "status"] == "INVALID" and "precipitation" in out.loc[0, "reason"]
    assert shown["run"]["params"]["input"] == f"entities {uri}"
    # And an input the batch would refuse is refused before anything starts, in one line
    bad = build_parser().parse_args(["batch", "--input", "/tmp/days/", "--local"])
    assert guarded(lambda: run_operator(bad, Backend.from_cloud(cloud))) == 2
    assert capsys.readouterr().err == "error: input_uri must be an s3:// URI, got '/tmp/days/'\n"


def test_a_malformed_entity_file_fails_before_any_partition_with_a_failure_record(served: LocalCloud) -> None:
    # Given an entity file without the view's join key (the other checks: tests/unit/test_batch_scoring.py)
    name, message = "batch-no-key", "has no column(s) ['station_id']"
    frame = pd.DataFrame({"event_timestamp": ["2015-07-01"]})
    cloud = served
    bucket = S3Uri.parse(cloud.output("RawDatasetUri")).bucket
    put_parquet(cloud, bucket, f"batch-input/{name}.parquet", frame)
    # When the batch runs on it
    result = run_batch(cloud, {"entities_uri": f"s3://{bucket}/batch-input/{name}.parquet"}, name)
    # Then it fails in ResolveModel with a one-line error naming the file and what is wrong
    assert (result.status, result.error) == ("FAILED", "DataValidationError")
    error_message = json.loads(result.cause or "{}")["errorMessage"]
    assert message in error_message and f"batch-input/{name}.parquet" in error_message and "\n" not in error_message
    # And no partition started; the run record says FAILED with that error
    history = cloud.client("stepfunctions").get_execution_history(executionArn=result.arn, maxResults=1000)
    assert not [e for e in history["events"] if e["type"].startswith("Map")]
    run = metadata_of(cloud).get_run(name)
    assert run.status == "FAILED" and run.error is not None and run.error["Error"] == "DataValidationError"


def test_inline_map_results_past_256_kib_fail_and_result_writer_carries_them(served: LocalCloud) -> None:
    # Given the batch machine's own PredictPartitions state, its children returning 100 KB each (Pass states)
    cloud = served
    sfn = cloud.client("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=cloud.output("BatchInferenceStateMachineArn"))
    bucket = cloud.output("ArtifactBucketName")
    for index in range(3):
        cloud.client("s3").put_object(Bucket=bucket, Key=f"batch/limit-items/{index}", Body=b"x")
    mapped = copy.deepcopy(json.loads(described["definition"])["States"]["PredictPartitions"])
    mapped["ItemReader"]["Parameters"] = {"Bucket": bucket, "Prefix": "batch/limit-items/"}
    mapped["ItemSelector"] = {"key.$": "$$.Map.Item.Value.Key"}
    mapped["ItemProcessor"] |= {
        "StartAt": "Big",
        "States": {"Big": {"Type": "Pass", "Result": {"blob": "x" * 100_000}, "End": True}},
    }
    mapped["ResultWriter"]["Parameters"] = {"Bucket": bucket, "Prefix": "batch/limit-results"}
    mapped.pop("Catch")
    mapped.pop("Next")
    mapped["End"] = True
    inline = {k: v for k, v in mapped.items() if k != "ResultWriter"}
    outcomes = {}
    for label, state in (("inline", inline), ("writer", mapped)):
        definition = {"StartAt": "PredictPartitions", "States": {"PredictPartitions": state}}
        arn = sfn.create_state_machine(
            name=f"limit-{label}", definition=json.dumps(definition), roleArn=described["roleArn"]
        )["stateMachineArn"]
        outcomes[label] = cloud.run_state_machine(arn, {})
    # Then 300 KB of inline results exceed the state limit, and the same Map with ResultWriter succeeds
    assert (outcomes["inline"].status, outcomes["inline"].error) == ("FAILED", "States.DataLimitExceeded")
    assert outcomes["writer"].status == "SUCCEEDED", outcomes["writer"].cause
    written = outcomes["writer"].output["map"]["ResultWriterDetails"]
    (succeeded,) = read_json(cloud, f"s3://{written['Bucket']}/{written['Key']}")["ResultFiles"]["SUCCEEDED"]
    entries = read_json(cloud, f"s3://{bucket}/{succeeded['Key']}")
    assert [len(json.loads(e["Output"])["blob"]) for e in entries] == [100_000] * 3
