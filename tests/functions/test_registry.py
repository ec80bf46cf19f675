"""The model registry against moto's DynamoDB: versions, approval, aliases and their history."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from functions.registry.artifact import serialize_model
from functions.registry.identity import caller_arn
from functions.registry.model_registry import ModelRegistry
from functions.registry.model_store import load_registered_model
from functions.registry.write_once import UPDATABLE_ATTRIBUTES
from functions.shared.dynamo_items import to_item
from functions.shared.errors import (
    ArtifactIntegrityError,
    ModelNotApprovedError,
    ModelNotFoundError,
    RegistryConflictError,
    StorageError,
    TransientStoreError,
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


def register(
    registry: ModelRegistry, *, sha: str = "ab" * 32, uri: str = "s3://b/k", run_id: str | None = None, **extra: Any
) -> int:
    """Register a version; each call is its own run unless ``run_id`` names one."""
    return registry.register(
        model_name=MODEL,
        artifact_uri=uri,
        artifact_sha256=sha,
        metrics={"accuracy": 0.8},
        params={"n": 1},
        signature={"features": []},
        training_data_uri="s3://b/data.parquet",
        training_data_sha256="cd" * 32,
        run_id=run_id or f"run-{uuid.uuid4().hex}",
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


class ThrottledOnce:
    """A DynamoDB client whose first ``operation`` call is throttled (nothing written), as DynamoDB throttles."""

    def __init__(self, client: Any, operation: str) -> None:
        self._client, self._operation, self.throttled = client, operation, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != self._operation or self.throttled:
            return method

        def throttle(**kwargs: Any) -> Any:
            self.throttled += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeds"}},
                name,
            )

        return throttle


def test_a_retried_registration_of_a_run_returns_its_version_never_a_second(aws: Any, clock: Clock) -> None:
    # Given a registration whose version write is throttled once (the Step Functions retry case)
    flaky = ThrottledOnce(aws, "transact_write_items")
    registry = ModelRegistry(flaky, TABLE, clock=clock)
    with pytest.raises(TransientStoreError, match="ProvisionedThroughputExceeded"):
        register(registry, run_id="run-7")
    # When the step is retried, and retried again after it succeeded (a later write of the step throttled)
    first = register(registry, run_id="run-7")
    again = register(registry, run_id="run-7")
    # Then the run has one version: the same number both times, one item, the claim naming it
    assert flaky.throttled == 1 and first == again
    assert [(v.version, v.run_id) for v in registry.list_versions(MODEL)] == [(first, "run-7")]
    found = registry.version_of_run(MODEL, "run-7")
    assert found is not None and found.version == first
    # And another run gets the next number (the throttled attempt's number is a gap, never a duplicate)
    assert register(registry, run_id="run-8") == first + 1
    assert registry.version_of_run(MODEL, "run-9") is None


def test_one_run_never_registers_two_artifacts(registry: ModelRegistry) -> None:
    register(registry, run_id="run-1", sha="ab" * 32)
    with pytest.raises(RegistryConflictError, match="one run registers one version"):
        register(registry, run_id="run-1", sha="ef" * 32)
    assert len(registry.list_versions(MODEL)) == 1


def test_concurrent_attempts_of_one_run_register_one_version(registry: ModelRegistry) -> None:
    # When five attempts of the same run register at once (a retry racing a slow first attempt)
    with ThreadPoolExecutor(max_workers=5) as pool:
        versions = set(pool.map(lambda _: register(registry, run_id="run-1"), range(5)))
    # Then all of them answer with the one version that exists
    assert len(versions) == 1
    assert [v.version for v in registry.list_versions(MODEL)] == list(versions)


def test_withdrawing_a_failed_run_leaves_no_version_that_can_be_approved_or_aliased(registry: ModelRegistry) -> None:
    # Given a run that registered a pending version and then failed (Promote failed, say)
    version = register(registry, run_id="failed-run")
    # When its failure path withdraws it
    withdrawal = registry.withdraw_run(MODEL, "failed-run", by="arn:aws:sts::1:assumed-role/r/f", reason="run failed")
    # Then the version is rejected, naming who and why, and nothing can approve or alias it
    assert withdrawal is not None and withdrawal.alias_changes == ()
    stored = registry.get(MODEL, version)
    assert (stored.approval_status, stored.approval_by, stored.approval_reason) == (
        "rejected", "arn:aws:sts::1:assumed-role/r/f", "run failed",
    )  # fmt: skip
    with pytest.raises(RegistryConflictError, match="already rejected"):
        registry.approve(MODEL, version, by="alice", reason="looks fine")
    with pytest.raises(ModelNotApprovedError):
        registry.move_alias(MODEL, "champion", version, by="alice", reason="try")
    with pytest.raises(ModelNotFoundError):
        registry.latest(MODEL)
    # And withdrawing again changes nothing; a run that registered nothing has nothing to withdraw
    again = registry.withdraw_run(MODEL, "failed-run", by="someone-else", reason="retry")
    assert again is not None and again.version.approval_reason == "run failed"
    assert registry.withdraw_run(MODEL, "never-registered", by="x", reason="y") is None


def test_withdrawing_a_promoted_run_moves_champion_back_or_unsets_it(registry: ModelRegistry, clock: Clock) -> None:
    # Given v1 champion, then v2 (from a run that fails after Promote moved champion to it)
    v1, v2 = register(registry, run_id="good"), register(registry, run_id="bad")
    for version in (v1, v2):
        registry.approve(MODEL, version, by="pipeline-role", reason="gate passed")
        clock.tick()
        registry.move_alias(MODEL, "champion", version, by="pipeline-role", reason="promoted")
    clock.tick()
    # When the failed run is withdrawn
    withdrawal = registry.withdraw_run(MODEL, "bad", by="recorder-role", reason="run bad failed")
    # Then champion is back on v1, the move is audited, and v2 is rejected though it had been approved
    assert withdrawal is not None
    [back] = withdrawal.alias_changes
    assert (back.alias, back.from_version, back.to_version, back.by) == ("champion", v2, v1, "recorder-role")
    assert registry.resolve_alias(MODEL, "champion").version == v1
    assert registry.get(MODEL, v2).approval_status == "rejected"
    # When the first run ever is withdrawn after it became champion, there is nothing to go back to
    clock.tick()
    registry.withdraw_run(MODEL, "good", by="recorder-role", reason="run good failed")
    # Then champion is unset (and was set before), the history says so, and a later champion can be set again
    with pytest.raises(ModelNotFoundError):
        registry.resolve_alias(MODEL, "champion")
    assert registry.aliases(MODEL) == {}
    assert registry.alias_history(MODEL, "champion")[-1].to_version is None
    with pytest.raises(ModelNotFoundError, match="was not set"):
        registry.history_at(MODEL, "champion", clock.tick())
    assert registry.history_at(MODEL, "champion", datetime.fromisoformat(back.at)).version == v1
    v3 = register(registry, run_id="next")
    registry.approve(MODEL, v3, by="pipeline-role", reason="gate passed")
    assert registry.move_alias(MODEL, "champion", v3, by="pipeline-role", reason="promoted").from_version is None


def test_registry_updates_only_the_attributes_its_iam_grant_allows_and_deletes_nothing(
    aws: Any, clock: Clock
) -> None:
    # Given a client that records every write request
    writes: list[tuple[str, dict[str, Any]]] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            method = getattr(aws, name)
            if name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):

                def record(**kwargs: Any) -> Any:
                    if name == "transact_write_items":
                        writes.extend((op, body) for item in kwargs["TransactItems"] for op, body in item.items())
                    else:
                        writes.append((name, kwargs))
                    return method(**kwargs)

                return record
            return method

    registry = ModelRegistry(Recording(), TABLE, clock=clock)
    # When the registry goes through its whole lifecycle
    v1, v2, v3 = (register(registry, run_id=f"run-{i}") for i in (1, 2, 3))
    registry.approve(MODEL, v1, by="a", reason="r")
    registry.approve(MODEL, v2, by="a", reason="r")
    registry.reject(MODEL, v3, by="a", reason="r")
    registry.move_alias(MODEL, "champion", v1, by="a", reason="r")
    registry.move_alias(MODEL, "champion", v2, by="a", reason="r")
    registry.withdraw_run(MODEL, "run-2", by="a", reason="r")
    registry.withdraw_run(MODEL, "run-1", by="a", reason="r")
    # Then no request deletes, and every update names only UPDATABLE_ATTRIBUTES (the grant's condition)
    kinds = {kind for kind, _ in writes}
    assert kinds <= {"put_item", "update_item", "Put", "Update", "ConditionCheck"}, kinds
    keywords = {"SET", "ADD", "AND", "OR", "NOT", "attribute_exists", "attribute_not_exists", "if_not_exists"}
    for kind, body in writes:
        if kind not in ("update_item", "Update"):
            continue
        text = f"{body['UpdateExpression']} {body.get('ConditionExpression', '')}"
        names = {re.sub(r"^#", "", n) for n in re.findall(r"(?<![:\w])#?[A-Za-z_]\w*", text)} - keywords
        names = {body.get("ExpressionAttributeNames", {}).get(f"#{n}", n) for n in names}
        assert names <= set(UPDATABLE_ATTRIBUTES), (names - set(UPDATABLE_ATTRIBUTES), text)
    # And every alias-history item is put only if absent (write-once)
    history = [body for kind, body in writes if kind == "Put" and body["Item"]["sk"]["S"].startswith("ALIASLOG#")]
    assert len(history) == 4 and all(b["ConditionExpression"] == "attribute_not_exists(sk)" for b in history)


def test_decisions_are_recorded_under_the_caller_arn_sts_answers(aws: Any) -> None:
    # Given credentials of an assumed role (as a Lambda function's, or an operator's SSO session)
    sts = boto3.client("sts", region_name="us-east-1")
    session = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/release-manager", RoleSessionName="alice")
    keys = session["Credentials"]
    as_role = boto3.client(
        "sts", region_name="us-east-1", aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"], aws_session_token=keys["SessionToken"],
    )  # fmt: skip
    # Then the identity is that session's ARN, not a name anyone typed
    assert caller_arn(as_role) == "arn:aws:sts::123456789012:assumed-role/release-manager/alice"
    # And with no credentials to ask with, the decision cannot be recorded: one line, no traceback to read
    unsigned = boto3.client("sts", region_name="us-east-1", config=Config(signature_version=UNSIGNED))
    no_credentials = mock.patch.object(unsigned, "get_caller_identity", side_effect=NoCredentialsError())
    with no_credentials, pytest.raises(StorageError, match=r"GetCallerIdentity.*Unable to locate credentials"):
        caller_arn(unsigned)
