"""Announce registry alias moves on EventBridge, so serving can roll the new champion out.

Event: ``source = mlops.registry``, ``detail-type = Model Alias Moved``,
``detail = {model_name, alias, version, from_version, by, reason, change_id, rollout}`` on the default
bus. The rollout's Deployer rule listens for ``alias = champion``. ``rollout`` says how serving takes
the move: ``immediate`` for an operator's rollback (a reason starting ``rollback: ``, as
``mlops models rollback`` writes it: all traffic at once, no canary), else ``canary``. The deployer
applies the same rule (``functions.rollout.reconcile.rollout_strategy``) to the move the registry
holds, so a rollback reached by a later run (after a rollout it stopped) is immediate too.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from functions.registry.model_registry import AliasChange
from functions.rollout.reconcile import rollout_strategy
from functions.shared.aws_errors import storage_error
from functions.shared.errors import StorageError

SOURCE = "mlops.registry"
DETAIL_TYPE = "Model Alias Moved"


def announce_alias_move(events_client: Any, change: AliasChange) -> str:
    """Put the event; returns its id. A refused entry is an error, not a silent miss."""
    detail = {
        "model_name": change.model_name,
        "alias": change.alias,
        "version": change.to_version,
        "from_version": change.from_version,
        "by": change.by,
        "reason": change.reason,
        "change_id": change.change_id,
        "rollout": str(rollout_strategy(change.reason)),
    }
    try:
        response = events_client.put_events(
            Entries=[{"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(detail)}]
        )
    except ClientError as exc:
        raise storage_error(exc, f"announcing {change.model_name} alias {change.alias} move") from exc
    entry = response["Entries"][0]
    if response.get("FailedEntryCount") or "EventId" not in entry:
        raise StorageError(
            f"EventBridge refused the alias move event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
        )
    return str(entry["EventId"])
