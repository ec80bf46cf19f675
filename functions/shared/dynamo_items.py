"""Convert between Python values and DynamoDB's attribute-value format; read every page of a query."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from functions.shared.aws_errors import storage_error

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Python dict (floats allowed) to a DynamoDB item; ``None`` values are dropped."""
    exact = json.loads(json.dumps({k: v for k, v in values.items() if v is not None}), parse_float=Decimal)
    return {key: _SERIALIZER.serialize(value) for key, value in exact.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB item to plain Python: integral numbers to int, others to float."""
    return {key: _plain(_DESERIALIZER.deserialize(value)) for key, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [_plain(v) for v in value]
    return value


def query_all(ddb: Any, doing: str, **query: Any) -> list[dict[str, Any]]:
    """Every item a DynamoDB Query matches, page after page (a page stops at 1 MB); a failure names ``doing``."""
    items: list[dict[str, Any]] = []
    try:
        while True:
            response = ddb.query(**query)
            items.extend(response["Items"])
            if "LastEvaluatedKey" not in response:
                return items
            query = {**query, "ExclusiveStartKey": response["LastEvaluatedKey"]}
    except ClientError as exc:
        raise storage_error(exc, doing) from exc
