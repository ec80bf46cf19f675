"""Split: time-based train/holdout split of the validated training set, each part hashed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, objects, run_artifact, settings
from functions.handlers.step_tracking import tracked_step
from functions.registry.artifact import sha256_hex
from functions.shared.settings import project
from functions.training.dataset import validate_training_frame
from functions.training.fit import time_based_split
from functions.training.training_sets import read_verified_parquet

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("Split", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(settings().model_name)
    dataset = event["dataset"]
    frame = validate_training_frame(read_verified_parquet(objects(), dataset["uri"], dataset["sha256"]), spec)
    split = time_based_split(frame, spec)
    out: dict[str, Any] = {"strategy": "time", "holdout_fraction": spec.holdout_fraction, "seed": spec.seed}
    for part, rows in (("train", split.train), ("holdout", split.holdout)):
        uri = run_artifact(event["run_id"], f"{part}.parquet")
        data = objects().put_parquet(uri, rows)
        out.update({f"{part}_uri": str(uri), f"{part}_sha256": sha256_hex(data), f"{part}_rows": len(rows)})
    metadata().log_params(event["run_id"], {"split_strategy": "time", "holdout_fraction": spec.holdout_fraction,
                                            "seed": spec.seed})  # fmt: skip
    return out
