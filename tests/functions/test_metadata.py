"""The metadata store against moto's DynamoDB: params, metrics and the lineage graph."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

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
from functions.registry.model_registry import ModelRegistry
from functions.shared.settings import RUNS_BY_PIPELINE_INDEX
from mlops.cli import _run_operator, build_parser, run_operator
from mlops.operator import Backend

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


def test_an_edge_written_later_never_drops_what_a_node_holds_and_annotate_adds_to_it(store: MetadataStore) -> None:
    # Given a model node written by Register with its artifact hash
    store.add_edge(run_node("r1", "training"), model_node("m", 1, artifact_sha256="ab"), "produced")
    # When Promote names the same node bare, and a deployment's start is then annotated with its end
    store.add_edge(model_node("m", 1), alias_change_node("m", "champion", "c1", to_version=1), "aliased_as")
    store.add_edge(
        alias_change_node("m", "champion", "c1"), deployment_node("d1", status="InProgress"), "rolled_out_by"
    )
    store.annotate(deployment_node("d1", status="Succeeded", served_version=1))
    # (the outcome of a start that was never recorded, with a fact it does not know)
    store.annotate(deployment_node("d2", status="Stopped", served_version=None))
    # Then each node keeps its first facts, and annotations add (or replace) only the attributes they name
    assert store.node("model:m:1").attributes == {"model_name": "m", "version": 1, "artifact_sha256": "ab"}
    assert store.node("alias_change:m:champion:c1").attributes == {"alias": "champion", "to_version": 1}
    assert store.node("deployment:d1").attributes == {"status": "Succeeded", "served_version": 1}
    assert store.node("deployment:d2").attributes == {"status": "Stopped"}


def lineage_backend(store: MetadataStore) -> Backend:
    """A Backend over the moto tables of this module (only registry and metadata are used by lineage)."""
    ddb = store._ddb
    ddb.create_table(
        TableName="registry",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )
    unused: Any = None
    return Backend(
        registry=ModelRegistry(ddb, "registry"),
        metadata=store,
        objects=unused,
        stepfunctions=unused,
        state_machine_arn="",
        artifact_bucket="",
        model_name="m",
        raw_dataset_uri="",
        data_limits=unused,
    )


def test_lineage_answers_which_models_used_a_feature_view_or_a_dataset(
    store: MetadataStore, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given v1 trained on a set from view daily:v1, v2 on a set from daily:v2 and weekly:v1
    backend = lineage_backend(store)
    for run_id, version, sha, views in (("r1", 1, "aa", ["daily:v1"]), ("r2", 2, "bb", ["daily:v2", "weekly:v1"])):
        store.add_edge(dataset_node(f"s3://b/{sha}.json", sha, data_sha256=f"data-{sha}", feature_views=views),
                       run_node(run_id, "training"), "input_of")  # fmt: skip
        store.add_edge(run_node(run_id, "training"), model_node("m", version), "produced")
        assert store.link_feature_views(f"dataset:{sha}") == views
        backend.registry.register(model_name="m", artifact_uri="s3://b/k", artifact_sha256=f"{version}" * 64,
                                  metrics={}, params={}, signature={}, training_data_uri="s3://b/d",
                                  training_data_sha256=f"data-{sha}", run_id=run_id, manifest_uri="s3://b/m",
                                  manifest_sha256=sha)  # fmt: skip

    def ask(*argv: str) -> str:
        capsys.readouterr()
        assert run_operator(build_parser().parse_args(["lineage", *argv]), backend) == 0
        return capsys.readouterr().out.splitlines()[0]

    # Then asked downstream, from a view (any version or one), a dataset (manifest or data hash), the models answer
    assert ask("--feature-view", "daily") == "models that used daily: m:1, m:2"
    assert ask("--feature-view", "daily:v2") == "models that used daily:v2: m:2"
    assert ask("--feature-view", "weekly:v1") == "models that used weekly:v1: m:2"
    assert ask("--dataset", "aa") == "models that used aa: m:1"
    assert ask("--dataset", "data-bb") == "models that used data-bb: m:2"
    # And upstream from a version the view is there too
    assert [n.id for n in store.lineage("m", 2).of_kind("feature_view")] == [
        "feature_view:daily", "feature_view:daily:v2", "feature_view:weekly", "feature_view:weekly:v1",
    ]  # fmt: skip
    # And a view or dataset nothing used is one line, not a traceback
    assert main_error(["lineage", "--feature-view", "hourly"], backend) == (
        "error: no training set recorded from feature view 'hourly' (lineage node feature_view:hourly)"
    )
    assert main_error(["lineage", "--feature-view", "daily:2"], backend).startswith("error: expected")
    assert main_error(["lineage", "m:9"], backend).startswith("error: model 'm' has no version 9 (versions: 1, 2)")
    assert main_error(["runs", "show", "nope"], backend).startswith("error: no run 'nope'")


def main_error(argv: list[str], backend: Backend) -> str:
    """What the CLI prints on stderr for ``argv`` against ``backend`` (through its own error handling)."""
    import contextlib
    import io

    err = io.StringIO()
    given = mock.patch("mlops.cli._backend", lambda args: contextlib.nullcontext(backend))
    with contextlib.redirect_stderr(err), given:
        assert _run_operator(build_parser().parse_args(argv)) == 2
    return err.getvalue().strip()
