"""Register: record the candidate as a new, immutable model version."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

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
    candidate, dataset = event["candidate"], event["dataset"]
    version = registry().register(
        model_name=settings().model_name,
        artifact_uri=candidate["artifact_uri"],
        artifact_sha256=candidate["sha256"],
        metrics=event["evaluation"]["metrics"],
        params=candidate["params"],
        signature=ModelSignature.from_spec(spec).to_dict(),
        training_data_uri=dataset["uri"],
        training_data_sha256=dataset["sha256"],
        run_id=event["run_id"],
    )
    logger.info("model registered", extra={"model": version.model_name, "version": version.version})
    return {"model_name": version.model_name, "version": version.version}
