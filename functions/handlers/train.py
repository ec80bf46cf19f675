"""Train: fit the model spec on the run's training split (Lambda entry point).

``functions.training.steps.train_candidate`` is the one training entrypoint: this handler,
the Batch job (``functions/handlers/batch_train.py``), every trial of a search and ``mlops
experiment run`` call it. The split's ``params`` (the request's, or the search's best trial's)
override the definition's; where they came from is recorded in lineage. An event with an ``action``
is a step of the hyperparameter search (``functions/handlers/tune.py``: plan, one trial, choose).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, objects, run_artifact
from functions.handlers.step_tracking import tracked_step
from functions.handlers.tune import ACTIONS
from functions.shared.settings import project
from functions.training.steps import record_training_params, train_candidate

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action")
    if action is not None:
        return ACTIONS[action](event, context)
    return _train(event, context)


@tracked_step("Train", metadata)
def _train(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(event["model"])
    result = train_candidate(objects(), spec, event["split"], run_artifact(event["run_id"], "train"))
    metadata().log_params(event["run_id"], {**result["params"], "training_backend": "lambda"})
    record_training_params(metadata(), event["run_id"], event["split"], "lambda")
    logger.info("model trained", extra={"uri": result["artifact_uri"], "train_rows": result["train_rows"]})
    return result
