"""Evaluate: score the candidate and the current champion on the same holdout; apply the model's gate.

The rule is ``functions/training/gate.py``: floors, per-class floors, and the primary metric
against the champion re-scored on this run's holdout (with no champion, only the floors).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, objects, registry
from functions.handlers.step_tracking import tracked_step
from functions.shared.settings import project
from functions.training.steps import evaluate

__all__ = ["SETTINGS", "handler"]

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
@tracked_step("Evaluate", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(event["model"])
    result = evaluate(objects(), registry(), spec, event["candidate"], event["split"])
    metadata().log_metrics(event["run_id"], {f"holdout_{k}": v for k, v in result["metrics"].items()})
    metrics.add_dimension(name="Model", value=spec.name)
    primary = spec.gate.primary_metric
    metrics.add_metric(name="HoldoutPrimaryMetric", unit=MetricUnit.NoUnit, value=result["quality"][primary])
    logger.info("candidate evaluated", extra={k: result[k] for k in ("quality", "passed", "reason")})
    return {k: v for k, v in result.items() if k != "quality"}
