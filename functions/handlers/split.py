"""Split: time-based train/holdout split of the validated training set, each part hashed.

It also checks what the run trains with before anything is fitted: the request's ``params`` and
``tune`` (``functions/training/search.py``); a bad one fails the run here, naming the parameter.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, objects, run_folder
from functions.handlers.step_tracking import tracked_step
from functions.shared.settings import project
from functions.training.steps import split

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("Split", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(event["model"])
    out = split(objects(), spec, event["dataset"], base=run_folder(event["run_id"]), request=event.get("input"))
    metadata().log_params(event["run_id"], {"split_strategy": "time", "holdout_fraction": spec.holdout_fraction,
                                            "seed": spec.seed, "tune": out["tune"]})  # fmt: skip
    return out
