"""Promote: approve per the stage's policy and make the candidate ``champion``.

Policy ``auto``: the pipeline approves (``by`` = the function's AWS identity from STS, reason = the
gate's verdict) and moves ``champion`` in the registry's alias transaction. Policy ``manual``: the
version stays pending and the alias does not move; a person runs ``mlops models approve`` and
``mlops models promote``, recorded under their own AWS identity.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, registry, settings
from functions.handlers.step_tracking import tracked_step
from functions.registry.alias_events import announce_alias_move
from functions.registry.alias_lineage import move_alias_with_lineage
from functions.registry.identity import caller_arn
from functions.registry.serving_rule import SERVING_ALIAS
from functions.shared.clients import client

__all__ = ["SETTINGS", "handler"]

logger = Logger()
CHAMPION = SERVING_ALIAS


@logger.inject_lambda_context
@tracked_step("Promote", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    model = event["model"]
    name, version = model["model_name"], int(model["version"])
    if settings().approval_policy != "auto":
        logger.info("awaiting manual approval", extra={"model": name, "version": version})
        return {"promoted": False, "approval_status": "pending", "alias": None}
    by = caller_arn(client("sts"))
    # Idempotent under Step Functions retries: a decision or move already made is not repeated.
    if registry().get(name, version).approval_status != "approved":
        registry().approve(name, version, by=by, reason=f"approval policy auto: {event['evaluation']['reason']}")
    if registry().alias_version(name, CHAMPION) == version:
        # An earlier attempt moved it, and may have failed before announcing it: announce it again (EventBridge
        # delivers at least once anyway), else serving would never roll out the champion the registry names.
        [change] = [c for c in registry().alias_history(name, CHAMPION) if c.to_version == version][-1:]
        event_id = announce_alias_move(client("events"), change)
        logger.info("champion already moved, announced again", extra={"to": version, "event_id": event_id})
        return {"promoted": True, "approval_status": "approved", "alias": CHAMPION, "from_version": change.from_version}
    change = move_alias_with_lineage(
        registry(), metadata(), name, CHAMPION, version, by=by, reason=f"run {event['run_id']} passed the quality gate"
    )
    event_id = announce_alias_move(client("events"), change)
    logger.info("champion moved", extra={"from": change.from_version, "to": version, "event_id": event_id})
    return {"promoted": True, "approval_status": "approved", "alias": CHAMPION, "from_version": change.from_version}
