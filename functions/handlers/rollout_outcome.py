"""Record how a rollout ended: in the lineage always, and in the registry when it failed.

Started by EventBridge on "CodeDeploy Deployment State-change Notification" (SUCCESS, FAILURE,
STOP) for the serving deployment group. Every outcome is added to the deployment's lineage node
(status, end time, the model version serving now). A failed or stopped rollout moves the
registry's ``champion`` back to the version still serving (an automatic rollback, recorded under
this function's AWS identity and linked from the deployment), unless champion has moved on since
(a promotion deferred behind this rollout, an operator's rollback); a redelivered event moves
nothing twice. A deployment CloudFormation started (``cdk deploy`` changed the serving code) is recorded
in the lineage and moves nothing in the registry. The rollout's canary alarm copies are deleted, and
"Model Rollout Ended" is put on the bus: the deployer runs on it, so a champion that moved during the
rollout rolls out now.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.canary_metrics import VERSION_DIMENSION
from functions.metadata.metadata_store import MetadataStore, alias_change_node, deployment_node, now_iso
from functions.registry.alias_lineage import move_alias_with_lineage
from functions.registry.identity import caller_arn
from functions.registry.model_registry import ModelRegistry
from functions.registry.serving_rule import SERVING_ALIAS
from functions.rollout.canary import CodeDeployment, RolloutContext, deployment_context, rollback_cause
from functions.rollout.deployments import CanaryAlarms, Deployments, announce_rollout_end
from functions.shared.clients import client
from functions.shared.settings import RolloutSettings

__all__ = ["SETTINGS", "handler"]

SETTINGS = RolloutSettings
SUCCESS = "SUCCESS"

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> RolloutSettings:
    return RolloutSettings.from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment_id = event["detail"]["deploymentId"]
    info = Deployments(client("codedeploy")).describe(deployment_id)
    rollout = deployment_context(info)
    if isinstance(rollout, CodeDeployment):
        outcome = record_code_deployment(deployment_id, event["detail"].get("state", ""), info, rollout)
        announce_rollout_end(
            client("events"), model_name=settings().model_name, deployment_id=deployment_id,
            status=str(info.get("status", "")), served_version=None,
        )  # fmt: skip
        return outcome
    outcome = record(deployment_id, event["detail"].get("state", ""), info, rollout)
    if rollout.change_id:
        # On the champion move it served: the deployer does not retry a move whose rollout failed.
        MetadataStore(client("dynamodb"), settings().metadata_table).annotate(
            alias_change_node(
                rollout.model_name, SERVING_ALIAS, rollout.change_id,
                rollout_status=str(info.get("status", "")), rollout_deployment=deployment_id,
            )
        )  # fmt: skip
    CanaryAlarms(client("cloudwatch"), settings().canary_alarms, VERSION_DIMENSION).remove(rollout.model_version)
    announce_rollout_end(
        client("events"), model_name=rollout.model_name, deployment_id=deployment_id,
        status=str(info.get("status", "")), served_version=outcome.get("version"),
    )  # fmt: skip
    return outcome


def record_code_deployment(
    deployment_id: str, state: str, info: dict[str, Any], deployment: CodeDeployment
) -> dict[str, Any]:
    """A ``cdk deploy`` of changed serving code ended: in the lineage, never a move of the registry's champion
    (its versions serve the champion, unpinned; a failed one left the alias where it was)."""
    status = "Succeeded" if state == SUCCESS else str(info.get("status", state))
    attributes: dict[str, Any] = {
        "strategy": "code", "status": status, "ended_at": now_iso(), "function_name": deployment.function_name,
        "function_version": deployment.target_function_version,
        "previous_function_version": deployment.current_function_version,
    }  # fmt: skip
    if state != SUCCESS:
        attributes["cause"] = rollback_cause(info.get("errorInformation"), info.get("status", "unknown"))
    MetadataStore(client("dynamodb"), settings().metadata_table).annotate(deployment_node(deployment_id, **attributes))
    logger.info("code deployment ended", extra={"deployment_id": deployment_id, **attributes})
    return {"recorded": True, "outcome": status.lower(), "code_deployment": True}


def record(deployment_id: str, state: str, info: dict[str, Any], rollout: RolloutContext) -> dict[str, Any]:
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
    champion = registry.alias_version(rollout.model_name, SERVING_ALIAS)
    if champion != rollout.model_version:
        # A redelivered event, an operator's rollback, or a promotion deferred behind this rollout: champion
        # already names what must serve, and the deployer (run on this rollout's end) rolls it out.
        return {"recorded": True, "version": previous, "reason": f"champion is v{champion} already, not moved"}
    change = move_alias_with_lineage(
        registry, lineage, rollout.model_name, SERVING_ALIAS, previous,
        by=caller_arn(client("sts")), reason=f"canary rollback: {cause} (deployment {deployment_id})",
    )  # fmt: skip
    lineage.add_edge(ended, alias_change_node(change.model_name, SERVING_ALIAS, change.change_id), "rolled_back_by")
    logger.info("champion moved back", extra={"deployment_id": deployment_id, "version": previous})
    return {"recorded": True, "version": previous, "reason": change.reason}
