"""Deployer: on "Model Alias Moved" (champion), roll the new model out behind alias `live` with CodeDeploy.

Pins the model version in the inference function's environment, publishes
a function version, points the canary alarms at that model version and
starts a CodeDeploy deployment (canary per the deployment group's config,
BeforeAllowTraffic smoke test, rollback on alarm). The deployment is recorded in
the lineage after the alias change that asked for it (``deployment:<id>``: the
model version it rolls out, the one serving before, the function versions);
the outcome recorder adds how it ended.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.canary_metrics import VERSION_DIMENSION
from functions.metadata.metadata_store import MetadataStore, alias_change_node, deployment_node, model_node, now_iso
from functions.registry.model_registry import ModelRegistry
from functions.rollout.canary import RolloutContext, lambda_appspec
from functions.rollout.deployments import Deployments, ServingFunction, point_alarms_at
from functions.shared.clients import client
from functions.shared.errors import RolloutError
from functions.shared.settings import RolloutSettings

__all__ = ["SETTINGS", "handler"]

SETTINGS = RolloutSettings

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> RolloutSettings:
    return RolloutSettings.from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event["detail"]
    model_name, version = detail["model_name"], int(detail["version"])
    if model_name != settings().model_name or detail.get("alias") != "champion":
        raise RolloutError(f"this deployer serves {settings().model_name!r} champion, got {model_name!r} {detail}")
    ModelRegistry(client("dynamodb"), settings().registry_table).get(model_name, version)  # exists, or fails here
    serving = ServingFunction(client("lambda"), settings().inference_function, settings().serving_alias)
    current, previous_model = serving.live_version()
    if previous_model == version:
        logger.info("already serving", extra={"model": model_name, "version": version})
        return {"deployment_id": None, "model_version": version, "function_version": current}
    target = serving.publish_pinned(model_name, version)
    point_alarms_at(client("cloudwatch"), settings().canary_alarms, VERSION_DIMENSION, str(version))
    rollout = RolloutContext(
        model_name=model_name,
        model_version=version,
        previous_model_version=previous_model,
        function_name=serving.name,
        alias=serving.alias,
        current_function_version=current,
        target_function_version=target,
    )
    deployment_id = Deployments(client("codedeploy")).create(
        application=settings().deploy_application,
        group=settings().deploy_group,
        appspec=lambda_appspec(rollout, before_allow_traffic=settings().pre_traffic_hook),
        description=rollout.to_description(),
    )
    started = deployment_node(
        deployment_id, model_name=model_name, model_version=version, previous_model_version=previous_model,
        function_version=target, previous_function_version=current, status="InProgress", started_at=now_iso(),
    )  # fmt: skip
    change_id = detail.get("change_id")
    cause = alias_change_node(model_name, "champion", change_id) if change_id else model_node(model_name, version)
    MetadataStore(client("dynamodb"), settings().metadata_table).add_edge(cause, started, "rolled_out_by")
    logger.info("rollout started", extra={"deployment_id": deployment_id, **rollout.__dict__})
    return {"deployment_id": deployment_id, "model_version": version, "function_version": target}
