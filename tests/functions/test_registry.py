"""The model registry against moto's DynamoDB: versions, approval, aliases and their history."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from functions.registry.artifact import serialize_model
from functions.registry.model_registry import ModelRegistry
from functions.registry.model_store import load_registered_model
from functions.shared.dynamo_items import to_item
from functions.shared.errors import (
    ArtifactIntegrityError,
    ModelNotApprovedError,
    ModelNotFoundError,
    RegistryConflictError,
)
from functions.shared.objects import ObjectStore, S3Uri

MODEL = "m"
TABLE = "registry"


class Clock:
    """A settable clock, so alias history can be queried at exact moments."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: int = 1) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


def _serialized(method: Any, lock: threading.RLock) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return call


@pytest.fixture
def aws() -> Iterator[Any]:
    # DynamoDB applies each request atomically; moto's in-memory backend does not (two threads can
    # read the same counter before either writes, and a read can see a write half-done). Serializing
    # moto's requests restores DynamoDB's guarantee, so the concurrency tests exercise the
    # registry's logic, not moto's races.
    lock = threading.RLock()
    atomic = {
        name: _serialized(getattr(DynamoDBBackend, name), lock)
        for name in ("put_item", "update_item", "transact_write_items", "get_item", "query", "scan")
    }
    with mock_aws(), mock.patch.multiple(DynamoDBBackend, **atomic):
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ddb


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(aws: Any, clock: Clock) -> ModelRegistry:
    return ModelRegistry(aws, TABLE, clock=clock)


def register(registry: ModelRegistry, *, sha: str = "ab" * 32, uri: str = "s3://b/k", **extra: Any) -> int:
    return registry.register(
        model_name=MODEL,
        artifact_uri=uri,
        artifact_sha256=sha,
        metrics={"accuracy": 0.8},
        params={"n": 1},
        signature={"features": []},
        training_data_uri="s3://b/data.parquet",
        training_data_sha256="cd" * 32,
        run_id="run-1",
        **extra,
    ).version


def test_twenty_concurrent_registrations_get_twenty_distinct_versions(registry: ModelRegistry) -> None:
    # When twenty threads register a version of the same model at once
    with ThreadPoolExecutor(max_workers=20) as pool:
        versions = list(pool.map(lambda i: register(registry, uri=f"s3://b/{i}"), range(20)))
    # Then each got its own number, and every record is intact
    assert sorted(versions) == list(range(1, 21))
    stored = registry.list_versions(MODEL)
    assert sorted(v.version for v in stored) == list(range(1, 21))
    assert {v.artifact_uri for v in stored} == {f"s3://b/{i}" for i in range(20)}
    assert registry.list_models() == [MODEL]


def test_version_records_lineage_fields_and_starts_pending(registry: ModelRegistry) -> None:
    version = registry.register(
        model_name=MODEL,
        artifact_uri="s3://b/model.joblib",
        artifact_sha256="ab" * 32,
        metrics={"accuracy": 0.8},
        params={"n": 1},
        signature={"features": []},
        training_data_uri="s3://b/data.parquet",
        training_data_sha256="cd" * 32,
        run_id="run-1",
        manifest_uri="s3://b/manifest.json",
        manifest_sha256="ef" * 32,
        code_version={"git_commit": "abc123", "requirements_sha256": "12" * 32},
        execution_id="arn:exec",
        trigger={"type": "schedule"},
    )
    stored = registry.get(MODEL, version.version)
    assert stored == version
    assert stored.approval_status == "pending"
    assert stored.code_version["git_commit"] == "abc123"
    assert stored.trigger == {"type": "schedule"}


def test_items_written_by_older_code_still_parse(aws: Any, registry: ModelRegistry) -> None:
    # Given a version item as the first release wrote it (no approval, code version or manifest)
    old = {
        "pk": f"MODEL#{MODEL}", "sk": "VERSION#0000000001", "model_name": MODEL, "version": 1,
        "artifact_uri": "s3://b/k", "artifact_sha256": "ab", "metrics": {"accuracy": 0.7}, "params": {},
        "signature": {}, "training_data_uri": "s3://b/d", "training_data_sha256": "cd", "run_id": "r",
        "status": "REGISTERED", "created_at": "2025-01-01T00:00:00+00:00",
    }  # fmt: skip
    aws.put_item(TableName=TABLE, Item=to_item(old))
    # Then it reads back with defaults for the new fields
    version = registry.get(MODEL, 1)
    assert version.approval_status == "pending"
    assert version.code_version == {}


def test_alias_refuses_a_version_that_is_not_approved(registry: ModelRegistry) -> None:
    pending = register(registry)
    rejected = register(registry)
    registry.reject(MODEL, rejected, by="alice", reason="overfits")
    for version in (pending, rejected):
        with pytest.raises(ModelNotApprovedError, match="not approved"):
            registry.move_alias(MODEL, "champion", version, by="bob", reason="try")
    with pytest.raises(ModelNotFoundError):
        registry.move_alias(MODEL, "champion", 99, by="bob", reason="try")
    # Nothing moved and no history was written
    with pytest.raises(ModelNotFoundError):
        registry.resolve_alias(MODEL, "champion")
    assert registry.alias_history(MODEL, "champion") == []


def test_approval_is_decided_once_and_names_who_and_why(registry: ModelRegistry) -> None:
    version = register(registry)
    approved = registry.approve(MODEL, version, by="alice", reason="beats champion")
    assert (approved.approval_status, approved.approval_by, approved.approval_reason) == (
        "approved", "alice", "beats champion",
    )  # fmt: skip
    with pytest.raises(RegistryConflictError, match="already approved"):
        registry.reject(MODEL, version, by="mallory", reason="changed my mind")
    with pytest.raises(ValueError, match="why"):
        registry.approve(MODEL, register(registry), by="alice", reason=" ")


def test_alias_history_answers_which_version_was_champion_at_time_t(registry: ModelRegistry, clock: Clock) -> None:
    # Given two approved versions, promoted one after the other and then rolled back
    v1, v2 = register(registry), register(registry)
    for version in (v1, v2):
        registry.approve(MODEL, version, by="alice", reason="gate passed")
    before = clock.tick()
    clock.tick()
    registry.move_alias(MODEL, "champion", v1, by="pipeline", reason="first model")
    during_v1 = clock.tick()
    clock.tick()
    registry.move_alias(MODEL, "champion", v2, by="pipeline", reason="better")
    during_v2 = clock.tick()
    clock.tick()
    rollback = registry.move_alias(MODEL, "champion", v1, by="oncall", reason="rollback: v2 errors")
    after = clock.tick()
    # Then the history says who moved it, from what, to what
    history = registry.alias_history(MODEL, "champion")
    assert [(c.from_version, c.to_version, c.by) for c in history] == [
        (None, v1, "pipeline"), (v1, v2, "pipeline"), (v2, v1, "oncall"),
    ]  # fmt: skip
    assert rollback.reason == "rollback: v2 errors"
    # And "which version was champion at time T" is answered for every T
    with pytest.raises(ModelNotFoundError, match="was not set"):
        registry.history_at(MODEL, "champion", before)
    assert registry.history_at(MODEL, "champion", during_v1).version == v1
    assert registry.history_at(MODEL, "champion", during_v2).version == v2
    assert registry.history_at(MODEL, "champion", after).version == v1
    assert registry.history_at(MODEL, "champion", datetime.fromisoformat(history[1].at)).version == v2
    assert registry.resolve_alias(MODEL, "champion").version == v1
    assert registry.aliases(MODEL) == {"champion": v1}


def test_latest_skips_rejected_versions(registry: ModelRegistry) -> None:
    good = register(registry)
    bad = register(registry)
    registry.reject(MODEL, bad, by="quality-gate", reason="below threshold")
    assert registry.latest(MODEL).version == good


def test_tampered_artifact_of_a_registered_version_is_refused(aws: Any, registry: ModelRegistry) -> None:
    # Given a registered model whose artifact bytes are later replaced in S3
    from sklearn.dummy import DummyClassifier

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    artifact = serialize_model(DummyClassifier().fit([[0.0], [1.0]], ["a", "b"]))
    objects = ObjectStore(s3)
    objects.put_bytes(S3Uri("bkt", "model.joblib"), artifact.data)
    version = registry.get(MODEL, register(registry, sha=artifact.sha256, uri="s3://bkt/model.joblib"))
    assert load_registered_model(objects, version).predict([[0.0]]).shape == (1,)
    objects.put_bytes(S3Uri("bkt", "model.joblib"), artifact.data + b"\x00")
    # Then loading it is refused before anything is deserialized
    with pytest.raises(ArtifactIntegrityError, match="refusing to load"):
        load_registered_model(objects, version)
