"""The metadata store against moto's DynamoDB: params, metrics and the lineage graph."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.metadata.metadata_store import (
    MetadataStore,
    alias_change_node,
    dataset_node,
    deployment_node,
    model_node,
    run_node,
    trigger_node,
)
from functions.shared.settings import RUNS_BY_PIPELINE_INDEX

TABLE = "metadata"


@pytest.fixture
def store() -> Iterator[MetadataStore]:
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
        yield MetadataStore(ddb, TABLE)


def chain(store: MetadataStore, run_id: str, version: int, manifest_sha: str, trigger: dict[str, Any]) -> None:
    store.start_run(run_id=run_id, pipeline="training", execution_arn=f"arn:{run_id}", trigger=trigger)
    store.add_edge(trigger_node(run_id, trigger), run_node(run_id, "training"), "started")
    store.add_edge(
        dataset_node(f"s3://b/{run_id}/manifest.json", manifest_sha), run_node(run_id, "training"), "input_of"
    )
    store.add_edge(run_node(run_id, "training"), model_node("m", version), "produced")


def test_lineage_of_a_version_is_its_chain_and_not_its_siblings(store: MetadataStore) -> None:
    # Given two runs on the same training set, each producing a version; v2 became champion and was deployed
    chain(store, "r1", 1, "aa", {"type": "schedule"})
    chain(store, "r2", 2, "aa", {"type": "drift", "metric": "psi"})
    change = alias_change_node("m", "champion", "c1", from_version=1, to_version=2, by="pipeline")
    store.add_edge(model_node("m", 2), change, "aliased_as")
    store.add_edge(change, deployment_node("d1", endpoint="prod"), "deployed_as")
    # When asking for the lineage of version 2
    lineage = store.lineage("m", 2)
    # Then it holds the trigger, data, run, alias change and deployment of v2 only
    assert [n.id for n in lineage.of_kind("run")] == ["run:r2"]
    assert lineage.of_kind("trigger")[0].attributes == {"type": "drift", "metric": "psi"}
    assert [n.id for n in lineage.of_kind("dataset")] == ["dataset:aa"]
    assert [n.attributes["endpoint"] for n in lineage.of_kind("deployment")] == ["prod"]
    assert "model:m:1" not in lineage.nodes
    assert len(lineage.edges) == 5


def test_params_and_metrics_are_read_back_with_the_run(store: MetadataStore) -> None:
    store.start_run(run_id="r1", pipeline="experiment", execution_arn="local", trigger={"type": "experiment"})
    store.log_params("r1", {"n_estimators": 100, "estimator": "RandomForestClassifier"})
    store.log_metrics("r1", {"holdout_accuracy": 0.71})
    store.finish_run("r1", status="SUCCEEDED")
    run = store.get_run("r1")
    assert run.params == {"n_estimators": 100, "estimator": "RandomForestClassifier"}
    assert run.metrics == {"holdout_accuracy": 0.71}
    assert [r.run_id for r in store.list_runs("experiment")] == ["r1"]
    with pytest.raises(KeyError, match="no lineage node"):
        store.lineage("m", 9)
