"""Evaluate: score the candidate and the current champion on the same holdout; apply the gate.

The gate passes when the candidate meets the absolute minimum from the stage config AND is not
worse than the champion re-scored on this run's holdout (accuracy and macro F1). With no
champion yet, only the absolute minimum applies.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, objects, registry, settings
from functions.handlers.step_tracking import tracked_step
from functions.registry.artifact import load_verified_model
from functions.registry.model_store import load_registered_model
from functions.shared.errors import ModelNotFoundError
from functions.shared.objects import S3Uri
from functions.training.fit import evaluate_model
from functions.training.model_spec import model_spec
from functions.training.training_sets import read_verified_parquet

__all__ = ["SETTINGS", "handler"]

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
@tracked_step("Evaluate", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = model_spec(settings().model_name)
    candidate, split = event["candidate"], event["split"]
    holdout = read_verified_parquet(objects(), split["holdout_uri"], split["holdout_sha256"])
    model = load_verified_model(objects().get_bytes(S3Uri.parse(candidate["artifact_uri"])), candidate["sha256"])
    evaluation = evaluate_model(model, holdout, spec)
    reasons: list[str] = []
    if evaluation.accuracy < settings().min_accuracy:
        reasons.append(f"holdout accuracy {evaluation.accuracy:.4f} is below the minimum {settings().min_accuracy}")
    champion_out: dict[str, Any] | None = None
    try:
        champion = registry().resolve_alias(spec.name, "champion")
    except ModelNotFoundError:
        champion = None
    if champion is not None:
        rescored = evaluate_model(load_registered_model(objects(), champion), holdout, spec)
        champion_out = {"version": champion.version, "metrics": rescored.as_metrics()}
        for name, value in rescored.as_metrics().items():
            if evaluation.as_metrics()[name] < value:
                reasons.append(
                    f"holdout {name} {evaluation.as_metrics()[name]:.4f} is worse than champion version "
                    f"{champion.version}'s {value:.4f} on the same holdout"
                )
    passed = not reasons
    metadata().log_metrics(event["run_id"], {f"holdout_{k}": v for k, v in evaluation.as_metrics().items()})
    metrics.add_dimension(name="Model", value=spec.name)
    metrics.add_metric(name="HoldoutAccuracy", unit=MetricUnit.NoUnit, value=evaluation.accuracy)
    logger.info("candidate evaluated", extra={"accuracy": evaluation.accuracy, "passed": passed, "reasons": reasons})
    return {
        "metrics": evaluation.as_metrics(),
        "per_class_f1": evaluation.per_class_f1,
        "holdout_rows": evaluation.holdout_rows,
        "min_accuracy": settings().min_accuracy,
        "champion": champion_out,
        "passed": passed,
        "reason": "; ".join(reasons) if reasons else "quality gate passed",
    }
