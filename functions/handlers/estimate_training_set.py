"""EstimateTrainingSet: before anything is built, where the run's data prep and fit run (Lambda or AWS Batch).

The estimate (``steps.estimate_training_set``: the committed files' row counts in the run's window, or a
table's size) goes through the one size rule (``training/backend_rule.py``) with the limits the state machine
passes in: the data-prep functions' memory and the stage's ``batch_threshold_rows``, or the execution input's
``options.batch_threshold_rows``. The run records the estimate and the choice as params.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.offline_store import OfflineStore
from functions.handlers.pipeline_context import metadata
from functions.shared.clients import client
from functions.shared.errors import InvalidRequestError
from functions.shared.settings import TrainingSetSettings, project
from functions.training.backend_rule import choose_backend
from functions.training.steps import estimate_training_set

__all__ = ["SETTINGS", "handler"]

SETTINGS = TrainingSetSettings

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> TrainingSetSettings:
    return TrainingSetSettings.from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = {k: v for k, v in event["input"].items() if k not in ("trigger", "model")}
    spec = project().model(event["model"])
    offline = OfflineStore(client("s3"), settings().feature_offline_bucket)
    estimate = estimate_training_set(client("s3"), offline, project(), spec, request)
    limits = event["limits"]
    override = (request.get("options") or {}).get("batch_threshold_rows")
    try:
        choice = choose_backend(
            estimate, memory_mb=limits["memory_mb"], threshold_rows=limits["threshold_rows"], override_rows=override
        )
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from exc
    metadata().log_params(
        event["run_id"],
        {"size_estimate": estimate.to_dict(), "data_prep_backend": choice.backend, "backend_reason": choice.reason},
    )
    logger.info("training set sized", extra={**estimate.to_dict(), **choice.to_dict()})
    return {**choice.to_dict(), "estimate": estimate.to_dict()}
