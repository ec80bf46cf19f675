"""Register: record the candidate as a new, immutable model version with its full lineage.

A candidate that failed the quality gate is registered too, as ``rejected`` by ``quality-gate``
with the gate's reason: the registry then answers "what was tried and why it was refused", and
no alias can ever point at it (aliases need an approved version). ``latest`` skips rejected
versions.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.metadata import model_node, run_node
from functions.adapters.registry import PENDING, REJECTED
from functions.core.model_spec import model_spec
from functions.core.signature import ModelSignature
from functions.handlers.pipeline_context import SETTINGS, metadata, registry, settings
from functions.handlers.step_tracking import tracked_step

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("Register", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = model_spec(settings().model_name)
    candidate, dataset, evaluation = event["candidate"], event["dataset"], event["evaluation"]
    passed = bool(evaluation["passed"])
    version = registry().register(
        model_name=settings().model_name,
        artifact_uri=candidate["artifact_uri"],
        artifact_sha256=candidate["sha256"],
        metrics={**evaluation["metrics"], **{f"f1_{k}": v for k, v in evaluation["per_class_f1"].items()}},
        params=candidate["params"],
        signature=ModelSignature.from_spec(spec).to_dict(),
        training_data_uri=dataset["uri"],
        training_data_sha256=dataset["sha256"],
        run_id=event["run_id"],
        manifest_uri=dataset["manifest_uri"],
        manifest_sha256=dataset["manifest_sha256"],
        code_version=settings().code_version,
        execution_id=event["execution_id"],
        trigger=event.get("trigger") or {},
        approval_status=PENDING if passed else REJECTED,
        approval_by="" if passed else "quality-gate",
        approval_reason="" if passed else evaluation["reason"],
    )
    metadata().add_edge(
        run_node(event["run_id"], "training"),
        model_node(version.model_name, version.version, artifact_sha256=version.artifact_sha256),
        "produced",
    )
    logger.info("model registered", extra={"model": version.model_name, "version": version.version})
    return {"model_name": version.model_name, "version": version.version, "approval_status": version.approval_status}
