"""ValidateData: schema, size, label balance, and drift against the champion's training set."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, objects, registry, settings
from functions.handlers.step_tracking import tracked_step
from functions.shared.settings import project
from functions.training.steps import DataLimits, validate_data

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("ValidateData", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    limits = DataLimits(config.max_majority_share, config.max_label_drift, config.max_mean_shift)
    result = validate_data(objects(), registry(), project().model(event["model"]), event["dataset"], limits)
    found = result["drift"]
    if found is not None:
        metrics = {"drift_label_tvd": found["label_tvd"], "drift_max_mean_shift": found["max_mean_shift"]}
        metadata().log_metrics(event["run_id"], metrics)
    logger.info("training set validated", extra=result)
    return result
