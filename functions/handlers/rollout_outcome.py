"""Record how a rollout ended: in the lineage always, and in the registry when it failed.

Started by EventBridge on "CodeDeploy Deployment State-change Notification" (SUCCESS, FAILURE,
STOP) for the serving deployment group. Every outcome is added to the deployment's lineage node
(status, end time, the model version serving now). A failed or stopped rollout moves the
registry's ``champion`` back to the version still serving (an automatic rollback, recorded under
this function's AWS identity and linked from the deployment); a redelivered event moves nothing twice.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.metadata.metadata_store import MetadataStore, alias_change_node, deployment_node, now_iso
from functions.registry.alias_lineage import move_alias_with_lineage
from functions.registry.identity import caller_arn
from functions.registry.model_registry import ModelRegistry
from functions.registry.serving_rule import SERVING_ALIAS
from functions.rollout.canary import RolloutContext, rollback_cause
from functions.rollout.deployments import Deployments
from functions.shared.clients import client
from functions.shared.settings import RolloutCheckSettings

__all__ = ["SETTINGS", "handler"]

SETTINGS = RolloutCheckSettings
SUCCESS = "SUCCESS"

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> RolloutCheckSettings:
    return RolloutCheckSettings.from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment_id, state = event["detail"]["deploymentId"], event["detail"].get("state", "")
    info = Deployments(client("codedeploy")).describe(deployment_id)
    rollout = RolloutContext.from_description(info.get("description"))
    lineage = MetadataStore(client("dynamodb"), settings().metadata_table)
    if state == SUCCESS:
        lineage.annotate(
            deployment_node(deployment_id, status="Succeeded", ended_at=now_iso(), served_version=rollout.model_version)
        )
        logger.info("rollout succeeded", extra={"deployment_id": deployment_id, "version": rollout.model_version})
        return {"recorded": True, "outcome": "succeeded", "version": rollout.model_version}
    cause = rollback_cause(info.get("errorInformation"), info.get("status", "unknown"))
    ended = deployment_node(
        deployment_id, status=info.get("status", state), ended_at=now_iso(),
        served_version=rollout.previous_model_version, cause=cause,
    )  # fmt: skip
    lineage.annotate(ended)
    previous = rollout.previous_model_version
    if previous is None:
        logger.warning("rollback with no pinned previous version", extra={"deployment_id": deployment_id})
        return {"recorded": False, "reason": "the previous function version served the latest model, unpinned"}
    registry = ModelRegistry(client("dynamodb"), settings().registry_table)
    if registry.alias_version(rollout.model_name, SERVING_ALIAS) == previous:
        # A redelivered event, or someone moved it back first: the registry already says what serves.
        return {"recorded": True, "version": previous, "reason": "champion already at the version serving"}
    change = move_alias_with_lineage(
        registry, lineage, rollout.model_name, SERVING_ALIAS, previous,
        by=caller_arn(client("sts")), reason=f"canary rollback: {cause} (deployment {deployment_id})",
    )  # fmt: skip
    lineage.add_edge(ended, alias_change_node(change.model_name, SERVING_ALIAS, change.change_id), "rolled_back_by")
    logger.info("champion moved back", extra={"deployment_id": deployment_id, "version": previous})
    return {"recorded": True, "version": previous, "reason": change.reason}
