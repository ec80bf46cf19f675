"""CodeDeploy BeforeAllowTraffic hook: smoke-test the new function version before it gets traffic.

Invokes the target version directly with GET /model and a valid POST
/predict record built from the model's signature (numbers, strings and
booleans alike), checks the answers (one of the classes, or a regressor's
finite value) and reports Succeeded or Failed to CodeDeploy. Any fault
reports Failed too, so a deployment never waits for the hook's timeout.
A deployment CloudFormation started (``cdk deploy`` changed the serving code; its new version is unpinned)
is smoke-tested the same way against the registry's champion. A model version the serving image cannot
run (no ONNX form) answers GET /model with 503 naming the model and version, so the hook refuses it. So is
a version no longer the approved champion (withdrawn or rolled back since the
move that started its rollout: ``serving_rule.rollout_refusal``). The
verdict is added to the deployment's lineage node once it is reported.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.metadata.metadata_store import MetadataStore, deployment_node
from functions.registry.model_registry import ModelRegistry
from functions.registry.serving_rule import SERVING_ALIAS, rollout_refusal
from functions.rollout.canary import CodeDeployment, deployment_context, proxy_event, smoke_record, smoke_test_failures
from functions.rollout.deployments import Deployments, ServingFunction
from functions.shared.clients import client
from functions.shared.errors import MlopsError
from functions.shared.settings import RolloutCheckSettings

__all__ = ["SETTINGS", "handler"]

SETTINGS = RolloutCheckSettings

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> RolloutCheckSettings:
    return RolloutCheckSettings.from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deployment_id, execution_id = event["DeploymentId"], event["LifecycleEventHookExecutionId"]
    deployments = Deployments(client("codedeploy"))
    try:
        problems = smoke_test(deployments, deployment_id)
    except MlopsError as exc:
        problems = [f"{type(exc).__name__}: {exc}"]
    passed = not problems
    logger.info(
        "pre-traffic smoke test", extra={"deployment_id": deployment_id, "passed": passed, "problems": problems}
    )
    deployments.report_hook(deployment_id, execution_id, succeeded=passed)
    # After the report: a lineage write that fails must not leave the deployment waiting for the hook's timeout.
    MetadataStore(client("dynamodb"), settings().metadata_table).annotate(
        deployment_node(deployment_id, smoke_test="passed" if passed else "failed", smoke_test_problems=problems)
    )
    return {"passed": passed, "problems": problems}


def smoke_test(deployments: Deployments, deployment_id: str) -> list[str]:
    rollout = deployment_context(deployments.describe(deployment_id))
    registry = ModelRegistry(client("dynamodb"), settings().registry_table)
    if isinstance(rollout, CodeDeployment):
        return code_smoke_test(rollout, registry)
    registered = registry.get(rollout.model_name, rollout.model_version)
    refusal = rollout_refusal(
        rollout.model_name, rollout.model_version, approval_status=registered.approval_status,
        champion=registry.alias_version(rollout.model_name, SERVING_ALIAS),
    )  # fmt: skip
    if refusal is not None:
        return [refusal]
    serving = ServingFunction(client("lambda"), rollout.function_name, rollout.alias)
    model_answer = serving.invoke(rollout.target_function_version, proxy_event("GET", "/model"))
    record = smoke_record(registered.signature)
    predict_answer = serving.invoke(
        rollout.target_function_version, proxy_event("POST", "/predict", {"records": [record]})
    )
    return smoke_test_failures(
        model_answer,
        predict_answer,
        model_version=rollout.model_version,
        labels=registered.signature.get("labels", []),
        task=registered.signature.get("task", "classification"),
    )


def code_smoke_test(deployment: CodeDeployment, registry: ModelRegistry) -> list[str]:
    """A ``cdk deploy`` of changed serving code: its new version must answer GET /health and, once a champion
    exists, serve that champion as the registered signature expects (the same checks as a model rollout's)."""
    serving = ServingFunction(client("lambda"), deployment.function_name, deployment.alias)
    target = deployment.target_function_version
    health = serving.invoke(target, proxy_event("GET", "/health"))
    if health.get("statusCode") != 200:
        return [f"GET /health answered {health.get('statusCode')}: {health.get('body')}"]
    champion = registry.alias_version(settings().model_name, SERVING_ALIAS)
    if champion is None:
        return []  # nothing is served yet: the code answers, and there is no model to check it with
    registered = registry.get(settings().model_name, champion)
    record = smoke_record(registered.signature)
    return smoke_test_failures(
        serving.invoke(target, proxy_event("GET", "/model")),
        serving.invoke(target, proxy_event("POST", "/predict", {"records": [record]})),
        model_version=champion,
        labels=registered.signature.get("labels", []),
        task=registered.signature.get("task", "classification"),
    )
