"""Model registry (C6) on DynamoDB: model groups, immutable versions, approval, audited aliases.

Item layout (one table):
- ``pk=MODELS, sk=MODEL#<name>``: the model group (created by its first registration).
- ``pk=MODEL#<name>, sk=COUNTER``: the atomic version counter.
- ``pk=MODEL#<name>, sk=VERSION#<10-digit number>``: one version, written once; only its
  approval fields change afterwards (pending -> approved | rejected, with who, when, why).
- ``pk=MODEL#<name>, sk=ALIAS#<alias>``: where an alias points now (no ``version``: unset).
- ``pk=MODEL#<name>, sk=ALIASLOG#<alias>#<timestamp>#<id>``: one alias move (who, when,
  from which version to which, why). Write-once: every put is conditioned on the item's absence.
- ``pk=MODEL#<name>, sk=RUN#<run id>``: the run's claim, naming the one version it registered.

Registration is idempotent per run: the run id is the key. A run's version and its claim are
written in ONE ``TransactWriteItems`` (both conditioned on absence), so a retried registration
of the same run (a Step Functions retry after a throttled write) finds the claim and returns the
same version, never a second one; two concurrent attempts of one run cannot both win. Version
numbers come from an atomic ``ADD`` on the counter, so concurrent registrations of different runs
get distinct numbers and none overwrites another; a failed transaction leaves a gap in the
numbering, never a duplicate.

A run that fails after its version was written withdraws it (``withdraw_run``): the version becomes
``rejected`` (nothing can approve or alias it any more) and an alias already on it goes back to the
version it replaced, or is removed when it had none.

An alias moves in ONE ``TransactWriteItems``: a condition check that the target version exists
and is approved, the alias put (conditioned on the alias still pointing where the caller read
it, so two concurrent moves cannot both win silently), and the history item. Either all three
happen or none. Rollback is a move back to an earlier approved version.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.shared.aws_errors import storage_error
from functions.shared.dynamo_items import from_item, query_all, to_item
from functions.shared.errors import ModelNotApprovedError, ModelNotFoundError, RegistryConflictError

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
APPROVAL_STATUSES = (PENDING, APPROVED, REJECTED)


@dataclass(frozen=True)
class ModelVersion:
    model_name: str
    version: int
    artifact_uri: str
    artifact_sha256: str
    metrics: dict[str, float]
    params: dict[str, Any]
    signature: dict[str, Any]
    training_data_uri: str
    training_data_sha256: str
    run_id: str
    status: str
    created_at: str
    # Added after the first release: defaults keep items written by older code readable.
    manifest_uri: str = ""
    manifest_sha256: str = ""
    code_version: dict[str, str] = field(default_factory=dict)
    execution_id: str = ""
    trigger: dict[str, Any] = field(default_factory=dict)
    approval_status: str = PENDING
    approval_by: str = ""
    approval_reason: str = ""
    approval_at: str = ""
    onnx_uri: str | None = None
    onnx_sha256: str | None = None
    onnx_unsupported_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AliasChange:
    """One move of an alias: an item of the append-only alias history (``to_version`` None: the alias was removed)."""

    model_name: str
    alias: str
    change_id: str
    at: str
    by: str
    reason: str
    to_version: int | None = None
    from_version: int | None = None


@dataclass(frozen=True)
class Withdrawal:
    """What ``withdraw_run`` did: the run's version, now rejected, and the aliases it moved off that version."""

    version: ModelVersion
    alias_changes: tuple[AliasChange, ...]


def _pk(model_name: str) -> str:
    return f"MODEL#{model_name}"


def _sk(version: int) -> str:
    return f"VERSION#{version:010d}"


def _run_sk(run_id: str) -> str:
    return f"RUN#{run_id}"


def _stamp(moment: datetime) -> str:
    """Fixed-width UTC timestamp: sorts lexically in time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class ModelRegistry:
    def __init__(self, dynamodb_client: Any, table_name: str, *, clock: Callable[[], datetime] | None = None) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- versions ---------------------------------------------------------------
    def register(
        self,
        *,
        model_name: str,
        artifact_uri: str,
        artifact_sha256: str,
        metrics: dict[str, float],
        params: dict[str, Any],
        signature: dict[str, Any],
        training_data_uri: str,
        training_data_sha256: str,
        run_id: str,
        manifest_uri: str = "",
        manifest_sha256: str = "",
        code_version: dict[str, str] | None = None,
        execution_id: str = "",
        trigger: dict[str, Any] | None = None,
        approval_status: str = PENDING,
        approval_by: str = "",
        approval_reason: str = "",
        onnx_uri: str | None = None,
        onnx_sha256: str | None = None,
        onnx_unsupported_reason: str | None = None,
    ) -> ModelVersion:
        """Register the run's candidate as a new version, once per run: a retry returns the run's version.

        ``RegistryConflictError`` if the run already registered a different artifact.
        """
        if approval_status not in APPROVAL_STATUSES:
            raise ValueError(f"approval_status must be one of {APPROVAL_STATUSES}, got {approval_status!r}")
        if not run_id.strip():
            raise ValueError("a registration needs the run id that produced it (the idempotency key)")
        existing = self._claimed(model_name, run_id, artifact_sha256)
        if existing is not None:
            return existing
        self._ensure_group(model_name)
        version = self._next_version(model_name)
        now = _stamp(self._clock())
        record = ModelVersion(
            model_name=model_name,
            version=version,
            artifact_uri=artifact_uri,
            artifact_sha256=artifact_sha256,
            metrics=metrics,
            params=params,
            signature=signature,
            training_data_uri=training_data_uri,
            training_data_sha256=training_data_sha256,
            run_id=run_id,
            status="REGISTERED",
            created_at=now,
            manifest_uri=manifest_uri,
            manifest_sha256=manifest_sha256,
            code_version=dict(code_version or {}),
            execution_id=execution_id,
            trigger=dict(trigger or {}),
            approval_status=approval_status,
            approval_by=approval_by,
            approval_reason=approval_reason,
            approval_at=now if approval_status != PENDING else "",
            onnx_uri=onnx_uri,
            onnx_sha256=onnx_sha256,
            onnx_unsupported_reason=onnx_unsupported_reason,
        )
        item = to_item({"pk": _pk(model_name), "sk": _sk(version), **record.to_dict()})
        claim = to_item(
            {
                "pk": _pk(model_name),
                "sk": _run_sk(run_id),
                "run_id": run_id,
                "version": version,
                "artifact_sha256": artifact_sha256,
                "created_at": now,
            }
        )
        absent = "attribute_not_exists(sk)"
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": absent}},
                    {"Put": {"TableName": self._table, "Item": claim, "ConditionExpression": absent}},
                ]
            )
        except ClientError as exc:
            reasons = _cancellation_reasons(exc)
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                # Another attempt of the same run won the race: its version is the run's version.
                winner = self._claimed(model_name, run_id, artifact_sha256)
                if winner is not None:
                    return winner
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise RegistryConflictError(f"{model_name} version {version} already exists") from exc
            raise storage_error(exc, f"registering {model_name} version {version}") from exc
        return record

    def _claimed(self, model_name: str, run_id: str, artifact_sha256: str) -> ModelVersion | None:
        """The version ``run_id`` registered already, if any (its artifact must be the one offered again)."""
        version = self.version_of_run(model_name, run_id)
        if version is None:
            return None
        if version.artifact_sha256 != artifact_sha256:
            raise RegistryConflictError(
                f"run {run_id!r} already registered {model_name} version {version.version} with artifact "
                f"{version.artifact_sha256[:12]}, not {artifact_sha256[:12]}: one run registers one version"
            )
        return version

    def version_of_run(self, model_name: str, run_id: str) -> ModelVersion | None:
        """The version run ``run_id`` registered, or ``None`` when it registered none."""
        item = self._read(model_name, _run_sk(run_id), f"reading the version run {run_id} registered")
        if item is None:
            return None
        return self.get(model_name, int(from_item(item)["version"]))

    def _read(self, model_name: str, sk: str, doing: str) -> dict[str, Any] | None:
        """One item of ``model_name`` by sort key, read consistently; None when absent."""
        try:
            response = self._ddb.get_item(
                TableName=self._table, Key={"pk": {"S": _pk(model_name)}, "sk": {"S": sk}}, ConsistentRead=True
            )
        except ClientError as exc:
            raise storage_error(exc, doing) from exc
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _ensure_group(self, model_name: str) -> None:
        item = to_item(
            {"pk": "MODELS", "sk": _pk(model_name), "model_name": model_name, "created_at": _stamp(self._clock())}
        )
        try:
            self._ddb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(sk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise storage_error(exc, f"creating model group {model_name}") from exc

    def _next_version(self, model_name: str) -> int:
        try:
            response = self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": _pk(model_name)}, "sk": {"S": "COUNTER"}},
                UpdateExpression="ADD next_version :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            raise storage_error(exc, f"allocating a version of {model_name}") from exc
        return int(response["Attributes"]["next_version"]["N"])

    def list_models(self) -> list[str]:
        items = self._query_all({":pk": {"S": "MODELS"}, ":prefix": {"S": "MODEL#"}}, "listing model groups")
        return [from_item(item)["model_name"] for item in items]

    def latest(self, model_name: str) -> ModelVersion:
        """The highest version of ``model_name`` that was not rejected."""
        for version in sorted(self.list_versions(model_name), key=lambda v: v.version, reverse=True):
            if version.approval_status != REJECTED:
                return version
        raise ModelNotFoundError(f"no registered version of model {model_name!r}")

    def get(self, model_name: str, version: int) -> ModelVersion:
        item = self._read(model_name, _sk(version), f"reading {model_name} version {version}")
        if item is None:
            raise ModelNotFoundError(f"model {model_name!r} has no version {version}")
        return _version_from_item(item)

    def list_versions(self, model_name: str) -> list[ModelVersion]:
        items = self._query_all(
            {":pk": {"S": _pk(model_name)}, ":prefix": {"S": "VERSION#"}}, f"listing versions of {model_name}"
        )
        return [_version_from_item(item) for item in items]

    def _query_all(self, values: dict[str, Any], doing: str, *, forward: bool = True) -> list[dict[str, Any]]:
        return query_all(
            self._ddb, doing, TableName=self._table, KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=values, ScanIndexForward=forward, ConsistentRead=True,
        )  # fmt: skip

    # -- approval -----------------------------------------------------------------
    def approve(self, model_name: str, version: int, *, by: str, reason: str) -> ModelVersion:
        """pending -> approved. Approving twice, or approving a rejected version, is refused."""
        return self._decide(model_name, version, APPROVED, by=by, reason=reason)

    def reject(self, model_name: str, version: int, *, by: str, reason: str) -> ModelVersion:
        """pending -> rejected. An approved version is taken out of service by moving its aliases, not here."""
        return self._decide(model_name, version, REJECTED, by=by, reason=reason)

    def _decide(self, model_name: str, version: int, status: str, *, by: str, reason: str) -> ModelVersion:
        if not by.strip() or not reason.strip():
            raise ValueError("an approval decision needs who made it ('by') and why ('reason')")
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": _pk(model_name)}, "sk": {"S": _sk(version)}},
                UpdateExpression="SET approval_status = :status, approval_by = :by, approval_reason = :reason, "
                "approval_at = :at",
                ConditionExpression="attribute_exists(sk) AND "
                "(attribute_not_exists(approval_status) OR approval_status = :pending)",
                ExpressionAttributeValues={
                    ":status": {"S": status},
                    ":by": {"S": by},
                    ":reason": {"S": reason},
                    ":at": {"S": _stamp(self._clock())},
                    ":pending": {"S": PENDING},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                current = self.get(model_name, version)  # raises ModelNotFoundError if absent
                raise RegistryConflictError(
                    f"{model_name} version {version} is already {current.approval_status} "
                    f"(by {current.approval_by}: {current.approval_reason}); only a pending version can be "
                    f"{status}"
                ) from exc
            raise storage_error(exc, f"setting approval of {model_name} version {version}") from exc
        return self.get(model_name, version)

    def withdraw_run(self, model_name: str, run_id: str, *, by: str, reason: str) -> Withdrawal | None:
        """Leave nothing usable from a failed run: its version (if any) rejected, no alias on it.

        The version is rejected first (from pending or approved), so nothing can approve or alias it
        from then on; then every alias on it goes back to the version it replaced (when that one is
        still approved), else is removed. Idempotent: a retry finds it rejected and no alias on it.
        ``None`` when the run registered no version.
        """
        if not by.strip() or not reason.strip():
            raise ValueError("withdrawing a run's version needs who did it ('by') and why ('reason')")
        version = self.version_of_run(model_name, run_id)
        if version is None:
            return None
        if version.approval_status != REJECTED:
            self._withdraw(model_name, version.version, by=by, reason=reason)
        changes = []
        for alias, at in sorted(self.aliases(model_name).items()):
            if at != version.version:
                continue
            back_to = self._replaced(model_name, alias, version.version)
            if back_to is not None:
                changes.append(self.move_alias(model_name, alias, back_to, by=by, reason=reason))
            else:
                changes.append(self._remove_alias(model_name, alias, version.version, by=by, reason=reason))
        return Withdrawal(self.get(model_name, version.version), tuple(changes))

    def _withdraw(self, model_name: str, version: int, *, by: str, reason: str) -> None:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": _pk(model_name)}, "sk": {"S": _sk(version)}},
                UpdateExpression="SET approval_status = :rejected, approval_by = :by, approval_reason = :reason, "
                "approval_at = :at",
                ConditionExpression="attribute_exists(sk) AND approval_status <> :rejected",
                ExpressionAttributeValues={
                    ":rejected": {"S": REJECTED},
                    ":by": {"S": by},
                    ":reason": {"S": reason},
                    ":at": {"S": _stamp(self._clock())},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return  # rejected meanwhile (a concurrent withdrawal): the outcome asked for
            raise storage_error(exc, f"withdrawing {model_name} version {version}") from exc

    def _replaced(self, model_name: str, alias: str, version: int) -> int | None:
        """The approved version ``alias`` pointed at before its latest move to ``version``, if any."""
        for change in reversed(self.alias_history(model_name, alias)):
            if change.to_version == version:
                previous = change.from_version
                if previous is not None and self.get(model_name, previous).approval_status == APPROVED:
                    return previous
                return None
        return None

    # -- aliases ------------------------------------------------------------------
    def alias_version(self, model_name: str, alias: str) -> int | None:
        """The version ``alias`` points at now, or ``None`` when it is unset."""
        item = self._read(model_name, f"ALIAS#{alias}", f"reading alias {alias} of {model_name}")
        values = from_item(item) if item is not None else {}
        return int(values["version"]) if "version" in values else None

    def resolve_alias(self, model_name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at; ``ModelNotFoundError`` when the alias is unset."""
        version = self.alias_version(model_name, alias)
        if version is None:
            raise ModelNotFoundError(f"model {model_name!r} has no alias {alias!r}")
        return self.get(model_name, version)

    def aliases(self, model_name: str) -> dict[str, int]:
        items = self._query_all(
            {":pk": {"S": _pk(model_name)}, ":prefix": {"S": "ALIAS#"}}, f"listing aliases of {model_name}"
        )
        return {values["alias"]: int(values["version"]) for values in map(from_item, items) if "version" in values}

    def move_alias(self, model_name: str, alias: str, version: int, *, by: str, reason: str) -> AliasChange:
        """Point ``alias`` at ``version`` (which must be approved) and append the move to the history."""
        if not alias or "#" in alias:
            raise ValueError(f"alias must be a non-empty name without '#', got {alias!r}")
        if not by.strip() or not reason.strip():
            raise ValueError("an alias move needs who made it ('by') and why ('reason')")
        previous = self.alias_version(model_name, alias)
        change = self._change(model_name, alias, previous, version, by=by, reason=reason)
        alias_item = {
            "pk": _pk(model_name),
            "sk": f"ALIAS#{alias}",
            "alias": alias,
            "version": version,
            "moved_at": change.at,
            "moved_by": by,
            "reason": reason,
            "change_id": change.change_id,
        }
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": {"pk": {"S": _pk(model_name)}, "sk": {"S": _sk(version)}},
                            "ConditionExpression": "approval_status = :approved",
                            "ExpressionAttributeValues": {":approved": {"S": APPROVED}},
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": to_item(alias_item), **_alias_at(previous)}},
                    self._history_put(change),
                ]
            )
        except ClientError as exc:
            reasons = _cancellation_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                target = self.get(model_name, version)  # raises ModelNotFoundError if the version is absent
                raise ModelNotApprovedError(
                    f"{model_name} version {version} is {target.approval_status}, not approved; "
                    f"alias {alias!r} was not moved"
                ) from exc
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise RegistryConflictError(
                    f"alias {alias!r} of {model_name} moved concurrently (expected version {previous}); retry"
                ) from exc
            raise storage_error(exc, f"moving alias {alias} of {model_name}") from exc
        return change

    def _remove_alias(self, model_name: str, alias: str, version: int, *, by: str, reason: str) -> AliasChange:
        """Unset ``alias`` (still at ``version``) and append the removal to the history, in one transaction.

        The alias item stays, without a version (no role may delete registry items): unset, as if never set.
        """
        change = self._change(model_name, alias, version, None, by=by, reason=reason)
        alias_item = {
            "pk": _pk(model_name),
            "sk": f"ALIAS#{alias}",
            "alias": alias,
            "moved_at": change.at,
            "moved_by": by,
            "reason": reason,
            "change_id": change.change_id,
        }
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": to_item(alias_item), **_alias_at(version)}},
                    self._history_put(change),
                ]
            )
        except ClientError as exc:
            reasons = _cancellation_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise RegistryConflictError(
                    f"alias {alias!r} of {model_name} moved concurrently (expected version {version}); retry"
                ) from exc
            raise storage_error(exc, f"removing alias {alias} of {model_name}") from exc
        return change

    def _change(
        self, model_name: str, alias: str, previous: int | None, version: int | None, *, by: str, reason: str
    ) -> AliasChange:
        return AliasChange(
            model_name=model_name,
            alias=alias,
            change_id=uuid.uuid4().hex,
            at=_stamp(self._clock()),
            by=by,
            reason=reason,
            to_version=version,
            from_version=previous,
        )

    def _history_put(self, change: AliasChange) -> dict[str, Any]:
        """The history item of ``change``: write-once (a put conditioned on its absence, never updated)."""
        sk = f"ALIASLOG#{change.alias}#{change.at}#{change.change_id}"
        item = to_item({"pk": _pk(change.model_name), "sk": sk, **change.__dict__})
        return {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(sk)"}}

    def alias_history(self, model_name: str, alias: str) -> list[AliasChange]:
        """Every move of ``alias``, oldest first."""
        items = self._query_all(
            {":pk": {"S": _pk(model_name)}, ":prefix": {"S": f"ALIASLOG#{alias}#"}},
            f"reading the history of alias {alias} of {model_name}",
        )
        return [_change_from_item(item) for item in items]

    def history_at(self, model_name: str, alias: str, moment: datetime) -> ModelVersion:
        """The version ``alias`` pointed at, at ``moment``; ``ModelNotFoundError`` if it was unset then."""
        if moment.tzinfo is None:
            raise ValueError("history_at needs a timezone-aware datetime")
        prefix = f"ALIASLOG#{alias}#"
        try:
            response = self._ddb.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
                ExpressionAttributeValues={
                    ":pk": {"S": _pk(model_name)},
                    ":low": {"S": prefix},
                    # '$' sorts after '#': every move stamped at or before ``moment``.
                    ":high": {"S": f"{prefix}{_stamp(moment)}$"},
                },
                ScanIndexForward=False,
                Limit=1,
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise storage_error(exc, f"reading the history of alias {alias} of {model_name}") from exc
        version = _change_from_item(response["Items"][0]).to_version if response["Items"] else None
        if version is None:
            raise ModelNotFoundError(f"alias {alias!r} of model {model_name!r} was not set at {_stamp(moment)}")
        return self.get(model_name, version)


_VERSION_FIELDS = {f.name for f in fields(ModelVersion)}


def _alias_at(version: int | None) -> dict[str, Any]:
    """The condition that the alias item is where the caller read it (unset when ``version`` is None)."""
    if version is None:  # never set, or removed (the item stays, without a version)
        return {"ConditionExpression": "attribute_not_exists(version)"}
    return {
        "ConditionExpression": "version = :previous",
        "ExpressionAttributeValues": {":previous": {"N": str(version)}},
    }


def _cancellation_reasons(exc: ClientError) -> list[str]:
    """Per-item codes of a cancelled transaction; any other failure has none."""
    if exc.response["Error"]["Code"] != "TransactionCanceledException":
        return []
    return [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]


def _version_from_item(item: dict[str, Any]) -> ModelVersion:
    values = from_item(item)
    return ModelVersion(**{k: v for k, v in values.items() if k in _VERSION_FIELDS})


def _change_from_item(item: dict[str, Any]) -> AliasChange:
    values = from_item(item)
    return AliasChange(**{k: v for k, v in values.items() if k in {f.name for f in fields(AliasChange)}})
