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

from typing import Any

from functions.registry.model_registry import AliasChange
from functions.rollout.reconcile import rollout_strategy
from functions.shared.events import put_event

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
    return put_event(
        events_client, source=SOURCE, detail_type=DETAIL_TYPE, detail=detail,
        doing=f"announcing {change.model_name} alias {change.alias} move",
    )  # fmt: skip
