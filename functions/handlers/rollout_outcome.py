"""Record a failed or stopped rollout in the registry: champion goes back to the version still serving.

Started by EventBridge on "CodeDeploy Deployment State-change Notification"
(FAILURE, STOP) for the serving deployment group.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.registry.champion import move_champion
from functions.rollout.canary import RolloutContext, rollback_cause
from functions.rollout.deployments import Deployments
from functions.shared.clients import client
from functions.shared.settings import RolloutCheckSettings

__all__ = ["SETTINGS", "handler"]

SETTINGS = RolloutCheckSettings

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> RolloutCheckSettings:
    return RolloutCheckSettings.from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment_id = event["detail"]["deploymentId"]
    info = Deployments(client("codedeploy")).describe(deployment_id)
    rollout = RolloutContext.from_description(info.get("description"))
    cause = rollback_cause(info.get("errorInformation"), info.get("status", "unknown"))
    if rollout.previous_model_version is None:
        logger.warning("rollback with no pinned previous version", extra={"deployment_id": deployment_id})
        return {"recorded": False, "reason": "the previous function version served the latest model, unpinned"}
    move = move_champion(
        client("dynamodb"),
        settings().registry_table,
        rollout.model_name,
        rollout.previous_model_version,
        by=f"codedeploy:{deployment_id}",
        reason=f"canary rollback: {cause}",
    )
    logger.info("champion moved back", extra={"deployment_id": deployment_id, "version": move.version})
    return {"recorded": True, "version": move.version, "reason": move.reason}
