"""Evaluate: score the candidate and the current champion on the same holdout; apply the model's gate.

The rule is ``functions/training/gate.py``: floors, per-class floors, and the primary metric
against the champion re-scored on this run's holdout (with no champion, only the floors).
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
from functions.shared.settings import project
from functions.training.fit import evaluate_model
from functions.training.gate import decide
from functions.training.training_sets import read_verified_parquet

__all__ = ["SETTINGS", "handler"]

logger = Logger()
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
@tracked_step("Evaluate", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(settings().model_name)
    candidate, split = event["candidate"], event["split"]
    holdout = read_verified_parquet(objects(), split["holdout_uri"], split["holdout_sha256"])
    model = load_verified_model(objects().get_bytes(S3Uri.parse(candidate["artifact_uri"])), candidate["sha256"])
    evaluation = evaluate_model(model, holdout, spec)
    champion_out: dict[str, Any] | None = None
    try:
        champion = registry().resolve_alias(spec.name, "champion")
    except ModelNotFoundError:
        champion = None
    rescored = None
    if champion is not None:
        rescored = evaluate_model(load_registered_model(objects(), champion), holdout, spec)
        champion_out = {"version": champion.version, "metrics": rescored.quality}
    decision = decide(
        spec.gate,
        spec.task,
        evaluation.quality,
        per_class_f1=evaluation.per_class_f1,
        champion=rescored.quality if rescored else None,
        champion_version=champion.version if champion else None,
    )
    metadata().log_metrics(event["run_id"], {f"holdout_{k}": v for k, v in evaluation.as_metrics().items()})
    metrics.add_dimension(name="Model", value=spec.name)
    metrics.add_metric(
        name="HoldoutPrimaryMetric", unit=MetricUnit.NoUnit, value=evaluation.quality[spec.gate.primary_metric]
    )
    logger.info("candidate evaluated", extra={"quality": evaluation.quality, "passed": decision.passed,
                                              "reasons": decision.reasons})  # fmt: skip
    return {
        "metrics": evaluation.as_metrics(),
        "per_class_f1": evaluation.per_class_f1,
        "holdout_rows": evaluation.holdout_rows,
        "gate": {
            "primary_metric": spec.gate.primary_metric,
            "floors": dict(spec.gate.floors),
            "per_class_floors": dict(spec.gate.per_class_floors),
            "tolerance": spec.gate.tolerance,
        },
        "champion": champion_out,
        "passed": decision.passed,
        "reason": decision.reason,
    }
