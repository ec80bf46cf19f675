"""Deployer and reconciler: make alias `live` serve the registry's champion, through CodeDeploy.

Runs on "Model Alias Moved" (champion), on "Model Rollout Ended" (the outcome recorder's, after
each rollout) and on a schedule; every run takes the same decision (``functions.rollout.reconcile``)
from the registry's champion, the model version ``live`` serves and the deployment in progress, so
a run is idempotent and a missed or redelivered event is caught up by the next one.

A rollout publishes a function version pinned to the model (or reuses one), puts the canary alarms
of that model version and starts a CodeDeploy deployment (canary per the deployment group's config,
BeforeAllowTraffic smoke test, rollback on alarm). An operator's rollback runs all at once, with no
hook and no alarm, after stopping a rollout in progress. A champion move arriving while another
rollout runs is deferred, the reason recorded on its alias change in the lineage. Deployments are
recorded after the alias change that asked for them (``deployment:<id>``, ``rolled_out_by``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.canary_metrics import VERSION_DIMENSION
from functions.metadata.metadata_store import MetadataStore, alias_change_node, deployment_node, now_iso
from functions.registry.alias_events import DETAIL_TYPE as ALIAS_MOVED
from functions.registry.model_registry import ModelRegistry
from functions.registry.serving_rule import SERVING_ALIAS
from functions.rollout.canary import RolloutContext, lambda_appspec
from functions.rollout.deployments import (
    ROLLOUT_ENDED,
    CanaryAlarms,
    DeploymentInProgress,
    Deployments,
    LiveAlias,
    ServingFunction,
)
from functions.rollout.reconcile import Action, ActiveRollout, Decision, Strategy, decide, rollout_strategy
from functions.shared.clients import client
from functions.shared.errors import RolloutError
from functions.shared.settings import RolloutSettings

__all__ = ["SETTINGS", "handler"]

SETTINGS = RolloutSettings
SCHEDULED = "Scheduled Event"

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> RolloutSettings:
    return RolloutSettings.from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    trigger, detail = event.get("detail-type"), event.get("detail") or {}
    model_name = settings().model_name
    if trigger not in (ALIAS_MOVED, ROLLOUT_ENDED, SCHEDULED):
        raise RolloutError(f"the deployer runs on {ALIAS_MOVED!r}, {ROLLOUT_ENDED!r} or its schedule, got {trigger!r}")
    if trigger != SCHEDULED and (
        detail.get("model_name") != model_name or detail.get("alias", SERVING_ALIAS) != SERVING_ALIAS
    ):
        raise RolloutError(f"this deployer serves {model_name!r} {SERVING_ALIAS}, got {detail}")
    return reconcile(model_name, trigger=str(trigger))


def reconcile(model_name: str, *, trigger: str) -> dict[str, Any]:
    """One reconciliation: start, defer, stop or skip a rollout of the registry's champion."""
    registry = ModelRegistry(client("dynamodb"), settings().registry_table)
    lineage = MetadataStore(client("dynamodb"), settings().metadata_table)
    serving = ServingFunction(client("lambda"), settings().inference_function, settings().serving_alias)
    deployments = Deployments(client("codedeploy"))
    history = registry.alias_history(model_name, SERVING_ALIAS)
    if not history:
        return {
            "action": str(Action.NONE),
            "reason": f"model {model_name!r} has no champion yet",
            "deployment_id": None,
        }
    change = history[-1]
    champion, strategy = change.to_version, rollout_strategy(change.reason)
    cause = alias_change_node(model_name, SERVING_ALIAS, change.change_id)
    ended = lineage.node(cause.id).attributes.get("rollout_status") if lineage.has_node(cause.id) else None
    decision, live, active = _decision(
        model_name, champion=champion, strategy=strategy, serving=serving, deployments=deployments, ended=ended
    )
    if decision.action is Action.STOP and active is not None:  # decide() stops only a deployment in progress
        status = deployments.stop(active.deployment_id)
        lineage.add_edge(cause, deployment_node(active.deployment_id, stopped_by_rollback=True), "stopped")
        logger.info("rollout stopped for a rollback", extra={"deployment_id": active.deployment_id, "status": status})
        # CodeDeploy points live back within seconds; its end (Model Rollout Ended) runs the deployer again, which
        # rolls the rollback's version out at once if live does not serve it then.
    if decision.action is Action.ROLL_OUT and champion is not None:  # decide() rolls out only a champion
        registry.get(model_name, champion)  # exists, or fails here
        try:
            deployment_id, target = _roll_out(
                model_name, version=champion, change_id=change.change_id, decision=decision, serving=serving,
                deployments=deployments, live=live,
            )  # fmt: skip
        except DeploymentInProgress as exc:
            # Lost a race with another run: that deployment's end runs the deployer again.
            decision = Decision(Action.DEFER, f"{exc}: v{champion} rolls out when it ends")
    if decision.action is Action.DEFER:
        lineage.annotate(
            alias_change_node(
                model_name, SERVING_ALIAS, change.change_id, rollout="deferred", rollout_deferred_reason=decision.reason
            )
        )
    logger.info("reconciled", extra={"trigger": trigger, "action": decision.action, "reason": decision.reason})
    if decision.action is not Action.ROLL_OUT or champion is None:
        return {"action": str(decision.action), "reason": decision.reason, "deployment_id": None}
    started = deployment_node(
        deployment_id, model_name=model_name, model_version=champion, previous_model_version=live.model_version,
        function_version=target, previous_function_version=live.function_version, status="InProgress",
        started_at=now_iso(), strategy=str(decision.strategy), trigger=trigger,
    )  # fmt: skip
    lineage.add_edge(cause, started, "rolled_out_by")
    return {"action": str(decision.action), "reason": decision.reason, "deployment_id": deployment_id}


def _decision(
    model_name: str,
    *,
    champion: int | None,
    strategy: Strategy,
    serving: ServingFunction,
    deployments: Deployments,
    ended: str | None,
) -> tuple[Decision, LiveAlias, ActiveRollout | None]:
    live = serving.live()
    active = deployments.active(application=settings().deploy_application, group=settings().deploy_group)
    if active is None and live.splitting:
        raise RolloutError(f"alias {serving.alias} of {serving.name} splits traffic with no deployment in progress")
    decision = decide(
        model=model_name, champion=champion, served=live.model_version, active=active, strategy=strategy, ended=ended
    )
    return decision, live, active


def _roll_out(
    model_name: str,
    *,
    version: int,
    change_id: str,
    decision: Decision,
    serving: ServingFunction,
    deployments: Deployments,
    live: LiveAlias,
) -> tuple[str, str]:
    immediate = decision.strategy is Strategy.IMMEDIATE
    target = serving.version_pinned_to(model_name, version)
    if target == live.function_version:
        raise RolloutError(f"{serving.name}:{target} is live and pinned to v{live.model_version}, not v{version}")
    alarms = (
        ()
        if immediate
        else CanaryAlarms(client("cloudwatch"), settings().canary_alarms, VERSION_DIMENSION).for_model(version)
    )
    rollout = RolloutContext(
        model_name=model_name,
        model_version=version,
        previous_model_version=live.model_version,
        function_name=serving.name,
        alias=serving.alias,
        current_function_version=live.function_version,
        target_function_version=target,
        change_id=change_id,
    )
    deployment_id = deployments.create(
        application=settings().deploy_application,
        group=settings().deploy_group,
        appspec=lambda_appspec(rollout, before_allow_traffic=None if immediate else settings().pre_traffic_hook),
        description=rollout.to_description(),
        alarms=alarms,
        all_at_once=immediate,
    )
    logger.info(
        "rollout started", extra={"deployment_id": deployment_id, "reason": decision.reason, **rollout.__dict__}
    )
    return deployment_id, target
