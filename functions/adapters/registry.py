"""Model registry (C6) on DynamoDB: immutable, numbered model versions.

Item layout (one table):
- ``pk=MODEL#<name>, sk=COUNTER``: the atomic version counter.
- ``pk=MODEL#<name>, sk=VERSION#<10-digit number>``: one version, written once.

Versions come from an atomic ``ADD`` on the counter, then a put conditioned
on the version not existing, so concurrent registrations get distinct numbers
and none overwrites another. A failed put leaves a gap in the numbering,
never a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.adapters.dynamo_items import from_item, to_item
from functions.adapters.errors import storage_error
from functions.core.errors import ModelNotFoundError, RegistryConflictError


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
    onnx_uri: str | None = None
    onnx_sha256: str | None = None
    onnx_unsupported_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _pk(model_name: str) -> str:
    return f"MODEL#{model_name}"


def _sk(version: int) -> str:
    return f"VERSION#{version:010d}"


class ModelRegistry:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

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
        onnx_uri: str | None = None,
        onnx_sha256: str | None = None,
        onnx_unsupported_reason: str | None = None,
    ) -> ModelVersion:
        """Allocate the next version number and write the version record."""
        version = self._next_version(model_name)
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
            created_at=datetime.now(UTC).isoformat(),
            onnx_uri=onnx_uri,
            onnx_sha256=onnx_sha256,
            onnx_unsupported_reason=onnx_unsupported_reason,
        )
        item = to_item({"pk": _pk(model_name), "sk": _sk(version), **record.to_dict()})
        try:
            self._ddb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(sk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise RegistryConflictError(f"{model_name} version {version} already exists") from exc
            raise storage_error(exc, f"registering {model_name} version {version}") from exc
        return record

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

    def latest(self, model_name: str) -> ModelVersion:
        """The highest registered version of ``model_name``."""
        try:
            response = self._ddb.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": {"S": _pk(model_name)}, ":prefix": {"S": "VERSION#"}},
                ScanIndexForward=False,
                Limit=1,
            )
        except ClientError as exc:
            raise storage_error(exc, f"reading the latest version of {model_name}") from exc
        if not response["Items"]:
            raise ModelNotFoundError(f"no registered version of model {model_name!r}")
        return _version_from_item(response["Items"][0])

    def get(self, model_name: str, version: int) -> ModelVersion:
        try:
            response = self._ddb.get_item(
                TableName=self._table,
                Key={"pk": {"S": _pk(model_name)}, "sk": {"S": _sk(version)}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise storage_error(exc, f"reading {model_name} version {version}") from exc
        if "Item" not in response:
            raise ModelNotFoundError(f"model {model_name!r} has no version {version}")
        return _version_from_item(response["Item"])

    def list_versions(self, model_name: str) -> list[ModelVersion]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": _pk(model_name)}, ":prefix": {"S": "VERSION#"}},
        }
        try:
            while True:
                response = self._ddb.query(**kwargs)
                items.extend(response["Items"])
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except ClientError as exc:
            raise storage_error(exc, f"listing versions of {model_name}") from exc
        return [_version_from_item(item) for item in items]


def _version_from_item(item: dict[str, Any]) -> ModelVersion:
    values = from_item(item)
    values.pop("pk")
    values.pop("sk")
    return ModelVersion(**values)
