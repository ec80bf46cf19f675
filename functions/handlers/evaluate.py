"""Evaluate: score the candidate on the holdout and apply the absolute quality gate."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.objects import S3Uri
from functions.core.artifact import load_verified_model
from functions.core.model_spec import model_spec
from functions.core.training import evaluate_model, time_based_split
from functions.handlers.pipeline_context import SETTINGS, metadata, objects, settings
from functions.handlers.step_tracking import tracked_step
from functions.handlers.train import read_dataset

__all__ = ["SETTINGS", "handler"]

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
@tracked_step("Evaluate", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = model_spec(settings().model_name)
    candidate = event["candidate"]
    model = load_verified_model(objects().get_bytes(S3Uri.parse(candidate["artifact_uri"])), candidate["sha256"])
    evaluation = evaluate_model(model, time_based_split(read_dataset(event["dataset"]), spec).holdout, spec)
    passed = evaluation.accuracy >= settings().min_accuracy
    metrics.add_dimension(name="Model", value=spec.name)
    metrics.add_metric(name="HoldoutAccuracy", unit=MetricUnit.NoUnit, value=evaluation.accuracy)
    logger.info("candidate evaluated", extra={"accuracy": evaluation.accuracy, "passed": passed})
    return {
        "metrics": evaluation.as_metrics(),
        "per_class_f1": evaluation.per_class_f1,
        "holdout_rows": evaluation.holdout_rows,
        "min_accuracy": settings().min_accuracy,
        "passed": passed,
    }
