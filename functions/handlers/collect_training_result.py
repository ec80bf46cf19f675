"""CollectTrainingResult: after a Batch training job, read its result document back into the run."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, objects, run_artifact
from functions.handlers.step_tracking import tracked_step
from functions.training.steps import record_training_params

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("TrainOnBatch", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(objects().get_bytes(run_artifact(event["run_id"], "train/train-result.json")))
    metadata().log_params(event["run_id"], {**result["params"], "training_backend": "batch"})
    record_training_params(metadata(), event["run_id"], event.get("split") or {}, "batch")
    logger.info("batch training result collected", extra={"job": event.get("job"), "uri": result["artifact_uri"]})
    return {**result, "job": event.get("job")}
