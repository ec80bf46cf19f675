"""Minimal ``champion`` alias bookkeeping for the rollout, until the registry's own alias API lands.

Stand-in for ``ModelRegistry.move_alias(model_name, alias, version, *, by, reason)``
and ``ModelRegistry.resolve_alias(model_name, alias)`` (issue 4). At merge,
``move_champion`` becomes ``registry.move_alias(model_name, "champion", ...)``
and ``resolve_champion`` becomes ``registry.resolve_alias(model_name, "champion")``.

Items, in the registry table:
- ``pk=MODEL#<name>, sk=ALIAS#champion``: the version the alias points at, who moved it and why;
- ``pk=MODEL#<name>, sk=ALIAS#champion#<iso time>#<uuid>``: one history entry per move.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.adapters.dynamo_items import from_item, to_item
from functions.adapters.errors import storage_error

ALIAS = "champion"


@dataclass(frozen=True)
class AliasMove:
    model_name: str
    alias: str
    version: int
    previous_version: int | None
    by: str
    reason: str
    moved_at: str


def move_champion(
    dynamodb_client: Any, table: str, model_name: str, version: int, *, by: str, reason: str
) -> AliasMove:
    """Point ``champion`` at ``version`` and append the move to the alias history, in one transaction."""
    previous = resolve_champion(dynamodb_client, table, model_name)
    move = AliasMove(model_name, ALIAS, version, previous, by, reason, datetime.now(UTC).isoformat())
    pk = f"MODEL#{model_name}"
    record = {k: v for k, v in move.__dict__.items() if v is not None}
    try:
        dynamodb_client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": to_item({"pk": pk, "sk": f"ALIAS#{ALIAS}", **record})}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": to_item({"pk": pk, "sk": f"ALIAS#{ALIAS}#{move.moved_at}#{uuid.uuid4()}", **record}),
                    }
                },
            ]
        )
    except ClientError as exc:
        raise storage_error(exc, f"moving {model_name} alias {ALIAS} to version {version}") from exc
    return move


def resolve_champion(dynamodb_client: Any, table: str, model_name: str) -> int | None:
    try:
        item = dynamodb_client.get_item(
            TableName=table,
            Key={"pk": {"S": f"MODEL#{model_name}"}, "sk": {"S": f"ALIAS#{ALIAS}"}},
            ConsistentRead=True,
        ).get("Item")
    except ClientError as exc:
        raise storage_error(exc, f"reading {model_name} alias {ALIAS}") from exc
    return int(from_item(item)["version"]) if item else None


def champion_history(dynamodb_client: Any, table: str, model_name: str) -> list[AliasMove]:
    """Every move of ``champion``, oldest first."""
    try:
        response = dynamodb_client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"MODEL#{model_name}"}, ":prefix": {"S": f"ALIAS#{ALIAS}#"}},
        )
    except ClientError as exc:
        raise storage_error(exc, f"reading {model_name} alias {ALIAS} history") from exc
    moves = []
    for item in response["Items"]:
        values = from_item(item)
        moves.append(
            AliasMove(
                model_name=values["model_name"],
                alias=values["alias"],
                version=int(values["version"]),
                previous_version=int(values["previous_version"]) if "previous_version" in values else None,
                by=values["by"],
                reason=values["reason"],
                moved_at=values["moved_at"],
            )
        )
    return moves
