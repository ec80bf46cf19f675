"""LoadData: read the raw table, validate it, store it as the run's Parquet training set."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.objects import S3Uri
from functions.core.artifact import sha256_hex
from functions.core.dataset import summarize, validate_training_frame
from functions.core.model_spec import model_spec
from functions.handlers.pipeline_context import SETTINGS, metadata, objects, run_artifact, settings
from functions.handlers.step_tracking import tracked_step

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("LoadData", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = S3Uri.parse(event["source_uri"])
    spec = model_spec(settings().model_name)
    raw = objects().get_csv(source) if source.key.endswith(".csv") else objects().get_parquet(source)
    frame = validate_training_frame(raw, spec)
    target = run_artifact(event["run_id"], "dataset.parquet")
    data = objects().put_parquet(target, frame)
    summary = summarize(frame, spec)
    logger.info("training set stored", extra={"uri": str(target), "rows": summary.rows})
    return {
        "uri": str(target),
        "sha256": sha256_hex(data),
        "source_uri": str(source),
        "rows": summary.rows,
        "start": summary.start,
        "end": summary.end,
        "label_counts": summary.label_counts,
    }
