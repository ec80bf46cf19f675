"""Alias moves in the lineage graph: every move (a promotion, a rollback, a withdrawal) as a node after its version."""

from __future__ import annotations

from functions.metadata.metadata_store import MetadataStore, alias_change_node, model_node
from functions.registry.model_registry import AliasChange, ModelRegistry


def record_alias_change(store: MetadataStore, change: AliasChange) -> None:
    """``model version -aliased_as-> alias change``; a removal hangs off the version it left (``unaliased``)."""
    node = alias_change_node(
        change.model_name, change.alias, change.change_id, at=change.at, by=change.by, reason=change.reason,
        from_version=change.from_version, to_version=change.to_version,
    )  # fmt: skip
    if change.to_version is not None:
        store.add_edge(model_node(change.model_name, change.to_version), node, "aliased_as")
    elif change.from_version is not None:
        store.add_edge(model_node(change.model_name, change.from_version), node, "unaliased")


def move_alias_with_lineage(
    models: ModelRegistry, store: MetadataStore, model_name: str, alias: str, version: int, *, by: str, reason: str
) -> AliasChange:
    """Move the alias (registry transaction), then record model version -> alias change in the lineage."""
    change = models.move_alias(model_name, alias, version, by=by, reason=reason)
    record_alias_change(store, change)
    return change
