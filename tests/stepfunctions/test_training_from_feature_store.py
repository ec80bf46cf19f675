"""Training from the feature store: backfill -> point-in-time training set -> model, with the store as lineage."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from functions.shared.objects import S3Uri
from mlops.demo import backfill_features
from mlops.local import LocalCloud
from tests.helpers import metadata_of, registry_of, shipped_frame

MODEL = "seattle-weather"


def training_executions(cloud: LocalCloud) -> list[dict[str, object]]:
    sfn = cloud.client("stepfunctions")
    executions: list[dict[str, object]] = sfn.list_executions(stateMachineArn=cloud.output("TrainingStateMachineArn"))[
        "executions"
    ]
    return executions


def manifest_of(cloud: LocalCloud, uri: str) -> dict[str, object]:
    location = S3Uri.parse(uri)
    body = cloud.client("s3").get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    document: dict[str, object] = json.loads(body)
    return document


def test_backfilled_features_train_a_champion_whose_lineage_names_views_rules_and_files(cloud: LocalCloud) -> None:
    # Given 2015 of the shipped dataset backfilled through the feature pipeline
    history = shipped_frame()
    history = history[history["date"] >= "2015-01-01"]
    loaded = backfill_features(cloud, history.to_csv(index=False).encode())
    assert loaded.status == "SUCCEEDED", loaded.cause
    # When the training pipeline runs on the feature store from March on
    result = cloud.run_state_machine(
        cloud.output("TrainingStateMachineArn"),
        {"feature_store": {"start": "2015-03-01", "end": "2015-12-31T23:59:59Z"}, "trigger": {"type": "test"}},
    )
    # Then a champion is trained on one example per stored day of the window
    assert result.status == "SUCCEEDED", result.cause
    days = history["date"]
    expected = int(((days >= "2015-03-01") & (days <= "2015-12-31")).sum())
    assert result.output["dataset"]["rows"] == expected
    version = registry_of(cloud).resolve_alias(MODEL, "champion")
    assert version.run_id == result.name
    # And its training-set manifest records the point-in-time join: views and rules by version, files by sha256
    manifest = manifest_of(cloud, result.output["dataset"]["manifest_uri"])
    assert manifest["source"] == "feature_store"
    assert isinstance(manifest["as_of"], str)  # the store's state it read, to rebuild the set exactly
    store = manifest["feature_store"]
    assert isinstance(store, dict)
    assert [(v["name"], v["version"], v["transformation"]) for v in store["views"]] == [
        ("daily_weather", 1, "seattle_daily_weather@v1")
    ]
    assert store["entity_rows"] == expected and store["strict"] is False
    assert store["files"] and all(len(f["sha256"]) == 64 for f in store["files"])
    # Partitions outside the window were not read
    # (entity times from March 1st and a 2-day TTL need February, never January)
    assert {f["event_month"] for f in store["files"]} == {f"2015-{month:02d}" for month in range(2, 13)}
    # And the lineage's dataset node names the views it came from
    lineage = metadata_of(cloud).lineage(MODEL, version.version)
    (dataset,) = lineage.of_kind("dataset")
    assert dataset.attributes["source"] == "feature_store"
    assert dataset.attributes["feature_views"] == ["daily_weather:v1"]
    assert manifest["join"]["engine"] == "pandas"  # the stage's Athena threshold is far above one year of days
    check_the_athena_path_builds_the_same_set(cloud, result.output["dataset"], manifest)


def build_training_set(cloud: LocalCloud, run_id: str, request: dict[str, object]) -> dict[str, object]:
    """The BuildTrainingSet function on its own (its role, its environment), as the pipeline invokes it."""
    response = cloud.client("lambda").invoke(
        FunctionName=cloud.function_name("FunctionsBuildTrainingSet"),
        Payload=json.dumps({"run_id": run_id, "model": MODEL, "input": request}).encode(),
    )
    payload: dict[str, object] = json.loads(response["Payload"].read())
    return {"error": response.get("FunctionError"), **payload}


def run_objects(cloud: LocalCloud, bucket: str, run_id: str) -> list[str]:
    listed = cloud.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"runs/{run_id}/")
    return [item["Key"] for item in listed.get("Contents", [])]


def check_the_athena_path_builds_the_same_set(
    cloud: LocalCloud, pandas_set: dict[str, object], pandas_manifest: dict[str, object]
) -> None:
    """Past the threshold (forced down to one row), the same build joins on Athena (the local cloud's: DuckDB
    over the offline files in S3, with the function's own IAM) and stores the same rows."""
    window = {"start": "2015-03-01", "end": "2015-12-31T23:59:59Z", "as_of": pandas_manifest["as_of"]}
    built = build_training_set(cloud, "athena-run", {"feature_store": window, "options": {"athena_threshold_rows": 1}})
    assert built["error"] is None, built
    athena_manifest = manifest_of(cloud, str(built["manifest_uri"]))
    join = athena_manifest["join"]
    assert join["engine"] == "athena" and join["feature_rows"] >= 1 and len(join["query_ids"]) == 1
    execution = cloud.client("athena").get_query_execution(QueryExecutionId=join["query_ids"][0])["QueryExecution"]
    assert execution["Status"]["State"] == "SUCCEEDED" and execution["WorkGroup"].endswith("-training-sets")
    # The files it may read are staged as rows of the committed-files table, not listed in the query's text
    assert '"committed_files" WHERE "query" = ' in execution["Query"] and ".parquet'" not in execution["Query"]
    assert athena_manifest["feature_store"]["extra"]["athena"]["query_ids"] == join["query_ids"]
    bucket = S3Uri.parse(str(built["uri"])).bucket
    frames = [
        pd.read_parquet(
            io.BytesIO(cloud.client("s3").get_object(Bucket=bucket, Key=S3Uri.parse(str(s["uri"])).key)["Body"].read())
        )
        for s in (pandas_set, built)
    ]
    pd.testing.assert_frame_equal(frames[1], frames[0], check_dtype=False)
    assert athena_manifest["feature_store"]["files"] == pandas_manifest["feature_store"]["files"]

    # A plain SELECT's rows come back through GetQueryResults (header first) and as CSV in the results location
    athena, database = cloud.client("athena"), cloud.output("FeatureGlueDatabase")
    count = athena.start_query_execution(
        QueryString=f'SELECT COUNT(*) AS n FROM "{database}"."daily_weather_v1"', WorkGroup=execution["WorkGroup"]
    )["QueryExecutionId"]
    rows = [
        [c.get("VarCharValue") for c in r["Data"]]
        for r in athena.get_query_results(QueryExecutionId=count)["ResultSet"]["Rows"]
    ]
    assert rows[0] == ["n"] and int(rows[1][0]) >= 365  # every stored row of the view: a year of days
    output = S3Uri.parse(
        athena.get_query_execution(QueryExecutionId=count)["QueryExecution"]["ResultConfiguration"]["OutputLocation"]
    )
    body = cloud.client("s3").get_object(Bucket=output.bucket, Key=output.key)["Body"].read().decode()
    assert body.splitlines() == [f'"{row[0]}"' for row in rows]

    # A malformed entity file fails the build before any query starts
    queries = len(cloud.client("athena").list_query_executions()["QueryExecutionIds"])
    data = cloud.output("DataBucketName")
    cloud.client("s3").put_object(Bucket=data, Key="raw/entities/bad.parquet", Body=b"not parquet")
    bad = {"entities_uri": f"s3://{data}/raw/entities/bad.parquet", "as_of": window["as_of"]}
    failed = build_training_set(cloud, "bad-entities", {"feature_store": bad, "options": {"athena_threshold_rows": 1}})
    assert failed["errorType"] == "DataValidationError" and "not a readable Parquet file" in str(failed["errorMessage"])
    assert len(cloud.client("athena").list_query_executions()["QueryExecutionIds"]) == queries

    # A query Athena fails fails the build with Athena's reason, and no training set is written
    cloud.client("glue").delete_table(DatabaseName=database, Name="daily_weather_v1")
    failed = build_training_set(
        cloud, "athena-fails", {"feature_store": window, "options": {"athena_threshold_rows": 1}}
    )
    assert failed["errorType"] == "AthenaQueryError"
    assert "failed: TABLE_NOT_FOUND" in str(failed["errorMessage"]), failed
    assert run_objects(cloud, bucket, "athena-fails") == []


def test_a_backfill_does_not_ask_for_a_retrain(cloud: LocalCloud) -> None:
    # When history is backfilled (execution named backfill-*)
    loaded = backfill_features(cloud, shipped_frame().head(30).to_csv(index=False).encode())
    assert loaded.status == "SUCCEEDED", loaded.cause
    # Then no training run starts (the new-data rule skips backfills): the backfill's status-change event was
    # delivered to its targets before the wait returned
    assert any(e["detail"]["executionArn"] == loaded.arn for e in cloud.execution_events)
    assert training_executions(cloud) == []


def test_training_on_an_empty_feature_store_fails_naming_what_to_do(cloud: LocalCloud) -> None:
    result = cloud.run_state_machine(
        cloud.output("TrainingStateMachineArn"), {"feature_store": {}, "trigger": {"type": "test"}}
    )
    assert result.status == "FAILED"
    assert result.error == "DataValidationError"
    assert "no events of daily_weather:v1" in (result.cause or "") and "ingest data first" in (result.cause or "")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "needs 'feature_store'"),
        ({"feature_store": {"since": "2012"}}, "unknown option(s) ['since']"),
        ({"feature_store": {"start": "not a time"}}, "'not a time' is not a time"),
    ],
)
def test_a_malformed_training_input_fails_with_a_clear_error(
    cloud: LocalCloud, payload: dict[str, object], message: str
) -> None:
    result = cloud.run_state_machine(cloud.output("TrainingStateMachineArn"), {**payload, "trigger": {"type": "test"}})
    assert result.status == "FAILED" and result.error == "DataValidationError"
    assert message in (result.cause or "")
