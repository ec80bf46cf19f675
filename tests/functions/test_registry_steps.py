"""The registry's pipeline steps under retries (moto): Promote re-announcing its move, RecordFailure withdrawing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from functions.handlers import pipeline_context, promote
from functions.registry.model_registry import ModelRegistry
from functions.shared import settings as names
from functions.shared.errors import StorageError, TransientStoreError
from functions.shared.settings import RUNS_BY_PIPELINE_INDEX

MODEL = "m"


@dataclass
class Context:
    function_name: str = "Promote"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:Promote"
    aws_request_id: str = "request"


def create_table(ddb: Any, name: str, *, index: tuple[str, str] | None = None) -> None:
    """A table keyed as the stack's (pk, sk), with the runs-by-pipeline index when ``index`` names its keys."""
    key = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    attributes = ("pk", "sk", *(index or ()))
    extra: dict[str, Any] = {}
    if index is not None:
        keys = [{"AttributeName": index[0], "KeyType": "HASH"}, {"AttributeName": index[1], "KeyType": "RANGE"}]
        extra["GlobalSecondaryIndexes"] = [
            {"IndexName": RUNS_BY_PIPELINE_INDEX, "KeySchema": keys, "Projection": {"ProjectionType": "ALL"}}
        ]
    ddb.create_table(
        TableName=name,
        KeySchema=key,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in attributes],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    env = {
        names.DATA_BUCKET: "data", names.ARTIFACT_BUCKET: "artifacts", names.REGISTRY_TABLE: "registry",
        names.METADATA_TABLE: "metadata", names.CODE_COMMIT: "abc", names.CODE_SHA256: "0" * 64,
        names.REQUIREMENTS_SHA256: "0" * 64, names.PROJECT_SHA256: "0" * 64, names.APPROVAL_POLICY: "auto",
        names.MAX_MAJORITY_SHARE: "0.95", names.MAX_LABEL_DRIFT: "0.5", names.MAX_MEAN_SHIFT: "5",
    }  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pipeline_context.settings.cache_clear()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "registry")
        create_table(ddb, "metadata", index=("gsi1pk", "gsi1sk"))
        yield ddb
    pipeline_context.settings.cache_clear()


def test_a_promote_retried_after_its_announcement_failed_moves_champion_once_and_announces_it(aws: Any) -> None:
    # Given a registered version, and an EventBridge that refuses the first announcement
    registry = ModelRegistry(aws, "registry")
    version = registry.register(model_name=MODEL, artifact_uri="s3://b/k", artifact_sha256="ab" * 32, metrics={},
                                params={}, signature={}, training_data_uri="s3://b/d", training_data_sha256="cd" * 32,
                                run_id="run-1").version  # fmt: skip
    pipeline_context.metadata().start_run(run_id="run-1", pipeline="training", execution_arn="arn", trigger={})
    event = {"run_id": "run-1", "model": {"model_name": MODEL, "version": version}, "evaluation": {"reason": "ok"}}
    announced: list[dict[str, Any]] = []

    def announce(events: Any, change: Any) -> str:
        if not announced:
            announced.append({})
            raise StorageError("announcing m alias champion move: InternalException: injected")
        announced.append({"to": change.to_version, "change_id": change.change_id})
        return "event-id"

    with mock.patch.object(promote, "announce_alias_move", announce):
        # When the first attempt fails after the move, and Step Functions retries it (twice)
        with pytest.raises(StorageError, match="injected"):
            promote.handler(event, Context())
        second = promote.handler(event, Context())
        third = promote.handler(event, Context())
    # Then champion moved once, under the caller's AWS identity, and the retries announced that one move
    [change] = registry.alias_history(MODEL, "champion")
    assert change.to_version == version and change.by.startswith("arn:aws:")
    assert registry.get(MODEL, version).approval_by == change.by
    assert announced[1:] == [{"to": version, "change_id": change.change_id}] * 2
    assert second == third == {"promoted": True, "approval_status": "approved", "alias": "champion",
                               "from_version": None}  # fmt: skip
    # And every attempt is on the run's record, the failed one with its error
    steps = pipeline_context.metadata().get_run("run-1").steps
    assert [s.status for s in steps] == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    assert steps[0].error == "StorageError: announcing m alias champion move: InternalException: injected"


def test_a_failed_runs_version_is_withdrawn_and_a_failing_withdrawal_still_ends_the_run_failed(aws: Any) -> None:
    # Given a training run of model m that registered a version, then failed at Promote
    from functions.handlers import run_recorder

    store = pipeline_context.metadata()
    store.start_run(run_id="run-2", pipeline="training", execution_arn="arn", trigger={})
    store.log_params("run-2", {"model": MODEL})
    registry = ModelRegistry(aws, "registry")
    version = registry.register(model_name=MODEL, artifact_uri="s3://b/k", artifact_sha256="ab" * 32, metrics={},
                                params={}, signature={}, training_data_uri="s3://b/d", training_data_sha256="cd" * 32,
                                run_id="run-2").version  # fmt: skip
    finish = {"action": "finish", "run_id": "run-2", "status": "FAILED",
              "error": {"Error": "InjectedFailure", "Cause": "injected at Promote"}}  # fmt: skip
    # When RecordFailure's withdrawal is throttled
    throttled = TransientStoreError("withdrawing m version 1: ProvisionedThroughputExceededException: slow down")
    with mock.patch.object(ModelRegistry, "withdraw_run", side_effect=throttled), pytest.raises(TransientStoreError):
        run_recorder.handler(finish, Context())
    # Then the run is FAILED anyway, its record naming both failures, and the version is not yet withdrawn
    run = store.get_run("run-2")
    assert run.status == "FAILED" and run.error is not None
    assert run.error["Cause"] == (
        "injected at Promote; withdrawing its version failed: TransientStoreError: " + str(throttled)
    )
    assert registry.get(MODEL, version).approval_status == "pending"
    # When Step Functions retries RecordFailure
    answer = run_recorder.handler(finish, Context())
    # Then the version is withdrawn: rejected under the recorder's AWS identity, with the run's error as reason
    assert answer["withdrawn"] == {"model_name": MODEL, "version": version, "alias_changes": []}
    withdrawn = registry.get(MODEL, version)
    assert withdrawn.approval_status == "rejected" and withdrawn.approval_by.startswith("arn:aws:")
    assert withdrawn.approval_reason == "run run-2 failed after registering (InjectedFailure: injected at Promote)"
