"""Promote: approve per the stage's policy and make the candidate ``champion``.

Policy ``auto``: the pipeline approves (``by`` = ``pipeline``, reason = the gate's verdict) and
moves ``champion`` in the registry's alias transaction. Policy ``manual``: the version stays
pending and the alias does not move; a person runs ``mlops models approve`` and
``mlops models promote``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, registry, settings
from functions.handlers.step_tracking import tracked_step
from functions.metadata.metadata_store import MetadataStore, alias_change_node, model_node
from functions.registry.alias_events import announce_alias_move
from functions.registry.model_registry import AliasChange, ModelRegistry
from functions.shared.clients import client

__all__ = ["SETTINGS", "handler", "move_alias_with_lineage"]

logger = Logger()
CHAMPION = "champion"


def move_alias_with_lineage(
    models: ModelRegistry, store: MetadataStore, model_name: str, alias: str, version: int, *, by: str, reason: str
) -> AliasChange:
    """Move the alias (registry transaction), then record model version -> alias change in the lineage."""
    change = models.move_alias(model_name, alias, version, by=by, reason=reason)
    store.add_edge(
        model_node(model_name, version),
        alias_change_node(model_name, alias, change.change_id, at=change.at, by=by, reason=reason,
                          from_version=change.from_version, to_version=version),
        "aliased_as",
    )  # fmt: skip
    return change


@logger.inject_lambda_context
@tracked_step("Promote", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    model = event["model"]
    name, version = model["model_name"], int(model["version"])
    if settings().approval_policy != "auto":
        logger.info("awaiting manual approval", extra={"model": name, "version": version})
        return {"promoted": False, "approval_status": "pending", "alias": None}
    # Idempotent under Step Functions retries: a decision or move already made is not repeated.
    if registry().get(name, version).approval_status != "approved":
        registry().approve(
            name, version, by="pipeline", reason=f"approval policy auto: {event['evaluation']['reason']}"
        )
    if registry().alias_version(name, CHAMPION) == version:
        return {"promoted": True, "approval_status": "approved", "alias": CHAMPION, "from_version": None}
    change = move_alias_with_lineage(
        registry(), metadata(), name, CHAMPION, version, by="pipeline",
        reason=f"run {event['run_id']} passed the quality gate",
    )  # fmt: skip
    event_id = announce_alias_move(client("events"), change)
    logger.info("champion moved", extra={"from": change.from_version, "to": version, "event_id": event_id})
    return {"promoted": True, "approval_status": "approved", "alias": CHAMPION, "from_version": change.from_version}
