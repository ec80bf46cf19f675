"""The tracking API and run comparison against moto: tracked runs in the metadata store, beside pipeline runs."""

from __future__ import annotations

import io
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from rich.console import Console

from functions.project import load_project
from functions.shared.errors import InvalidRequestError
from functions.shared.settings import RUNS_BY_PIPELINE_INDEX
from mlops.experiments import (
    compare_runs,
    comparison_table,
    list_experiment_runs,
    parse_params,
    pipeline_request,
    training_request_with,
)
from mlops.tracking import Tracker, TrackingError
from tests.projects import SEATTLE_DIR

TABLE, BUCKET = "metadata", "artifacts"


@pytest.fixture(scope="module")
def tracker() -> Iterator[Tracker]:
    """One moto account for the module (its tests use experiments of their own names)."""
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        keys = [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")]
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=keys,
            BillingMode="PAY_PER_REQUEST",
            GlobalSecondaryIndexes=[
                {
                    "IndexName": RUNS_BY_PIPELINE_INDEX,
                    "KeySchema": [
                        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        outputs = {"MetadataTableName": TABLE, "ArtifactBucketName": BUCKET}
        yield Tracker.from_outputs(outputs, lambda service: {"dynamodb": ddb, "s3": s3}[service])


def test_tracked_run_round_trips_params_metrics_with_steps_tags_and_an_artifact(tracker: Tracker) -> None:
    # Given a notebook's run of an experiment
    with tracker.start_run("depth", tags={"owner": "ana"}, note="deeper trees") as run:
        run.log_params({"max_depth": 6, "criterion": "gini"})
        for step, loss in enumerate([0.9, 0.5, 0.4]):
            run.log_metric("loss", loss, step=step)
        run.log_metric("macro_f1", 0.81)
        uri = run.log_artifact(b"confusion matrix", name="plots/confusion.txt")
    # Then the metadata store holds all of it, and the run ended SUCCEEDED
    stored = tracker.get_run(run.run_id)
    assert (stored.pipeline, stored.experiment, stored.status) == ("experiment", "depth", "SUCCEEDED")
    assert stored.params == {"max_depth": 6, "criterion": "gini"}
    assert stored.metrics == {"loss": 0.4, "macro_f1": 0.81}
    assert [(p.step, p.value) for p in stored.metric_history["loss"]] == [(0, 0.9), (1, 0.5), (2, 0.4)]
    assert stored.tags == {"owner": "ana"} and stored.trigger == {"type": "tracking", "note": "deeper trees"}
    assert uri == f"s3://{BUCKET}/runs/{run.run_id}/artifacts/plots/confusion.txt"
    assert tracker.artifact(run.run_id, "plots/confusion.txt") == b"confusion matrix"
    # And it is listed with its experiment, beside every run of the pipeline `experiment`
    assert [r["run_id"] for r in list_experiment_runs(tracker.metadata, "depth")] == [run.run_id]
    assert list_experiment_runs(tracker.metadata, "other") == []
    # And a block that raises ends its run FAILED with the error, re-raised; an ended run takes nothing more
    with pytest.raises(ZeroDivisionError), tracker.start_run("depth") as failing:
        failing.log_param("max_depth", 3)
        _ = 1 / 0
    assert tracker.get_run(failing.run_id).status == "FAILED"
    assert tracker.get_run(failing.run_id).error == {"Error": "ZeroDivisionError", "Cause": "division by zero"}
    with pytest.raises(TrackingError, match="has ended"):
        failing.log_metric("loss", 0.1)
    with pytest.raises(TrackingError, match="metric 'loss' must be a finite number, got nan"):
        tracker.start_run("depth").log_metric("loss", float("nan"))


def test_compare_marks_what_differs_and_a_run_becomes_a_pipeline_request(tracker: Tracker) -> None:
    # Given two tracked runs of the weather model's estimator
    runs = []
    for leaf, f1 in ((1, 0.7), (5, 0.8)):
        with tracker.start_run("leaf") as run:
            run.log_params({"min_samples_leaf": leaf, "n_jobs": 1, "seed": 42, "notes": "x"})
            run.log_metric("macro_f1", f1)
        runs.append(run.run_id)
    # When they are compared
    comparison = compare_runs(tracker.metadata, runs)
    # Then what differs is marked, what is equal is not, and the table shows both
    assert {(r.kind, r.name) for r in comparison.differences} == {("param", "min_samples_leaf"), ("metric", "macro_f1")}
    assert next(r for r in comparison.rows if r.name == "n_jobs").values == (1, 1)
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(comparison_table(comparison))
    text = console.export_text()
    assert "≠" in text and runs[0] in text and "0.8" in text
    # And the better run's params become a pipeline request (the estimator's params only; lineage names the run)
    spec = load_project(SEATTLE_DIR).model("seattle-weather")
    request, ignored = pipeline_request(tracker.metadata, spec, runs[1], {"source_uri": "s3://raw/x.csv"})
    assert request == {"source_uri": "s3://raw/x.csv", "params": {"min_samples_leaf": 5}, "params_from": runs[1]}
    assert ignored == ["notes"]
    # (as `mlops train --params-from RUN --param ... --tune` builds it, checked before anything starts)
    built, _ = training_request_with(tracker.metadata, spec, {}, params=["max_depth=4"], params_from=runs[1])
    assert built["params"] == {"min_samples_leaf": 5, "max_depth": 4} and built["params_from"] == runs[1]
    with pytest.raises(InvalidRequestError, match="both fixed by the request's params and searched"):
        training_request_with(tracker.metadata, spec, {}, params=["min_samples_leaf=2"], tune=True)
    with pytest.raises(KeyError, match="no run 'nope'"):
        compare_runs(tracker.metadata, [runs[0], "nope"])


def test_param_overrides_parse_as_json_or_text_and_refuse_a_bad_pair() -> None:
    assert parse_params(["n_estimators=50", "max_features=sqrt", "max_depth=null"]) == {
        "n_estimators": 50, "max_features": "sqrt", "max_depth": None
    }  # fmt: skip
    with pytest.raises(InvalidRequestError, match="--param takes NAME=VALUE, got 'depth'"):
        parse_params(["depth"])
