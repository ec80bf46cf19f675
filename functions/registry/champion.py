"""The ``champion`` alias as the rollout sees it: a thin view over the registry's audited aliases.

Moves go through ``ModelRegistry.move_alias`` (one transaction with the alias history, refusing
an unapproved version), with their lineage through ``alias_lineage.move_alias_with_lineage``;
reads through ``alias_version`` and ``alias_history``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.registry.model_registry import AliasChange, ModelRegistry
from functions.registry.serving_rule import SERVING_ALIAS

ALIAS = SERVING_ALIAS


@dataclass(frozen=True)
class AliasMove:
    """One move of ``champion``; ``version`` is None when the move removed it (a withdrawn first champion)."""

    model_name: str
    alias: str
    version: int | None
    previous_version: int | None
    by: str
    reason: str
    moved_at: str

    @classmethod
    def from_change(cls, change: AliasChange) -> AliasMove:
        return cls(change.model_name, change.alias, change.to_version, change.from_version, change.by,
                   change.reason, change.at)  # fmt: skip


def resolve_champion(dynamodb_client: Any, table: str, model_name: str) -> int | None:
    return ModelRegistry(dynamodb_client, table).alias_version(model_name, ALIAS)


def champion_history(dynamodb_client: Any, table: str, model_name: str) -> list[AliasMove]:
    """Every move of ``champion``, oldest first."""
    return [AliasMove.from_change(c) for c in ModelRegistry(dynamodb_client, table).alias_history(model_name, ALIAS)]
