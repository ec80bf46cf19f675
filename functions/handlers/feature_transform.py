"""Transform: run each feature view's versioned rule on the validated rows of its source."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.steps import transform
from functions.handlers.feature_context import SETTINGS, metadata, objects, staged
from functions.handlers.step_tracking import tracked_step
from functions.shared.objects import S3Uri
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("Transform", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id, validation = event["run_id"], event["validation"]
    valid = objects().get_parquet(S3Uri.parse(validation["staged_uri"]))
    views = []
    for view, rows in transform(project().views_of_source(validation["source"]), valid):
        target = staged(run_id, f"{view.name}-v{view.version}.parquet")
        objects().put_parquet(target, rows)
        views.append(
            {
                "view": view.name,
                "version": view.version,
                "rule": str(view.transformation),
                "staged_uri": str(target),
                "rows": len(rows),
            }
        )
    logger.info("transformed", extra={"views": views})
    return {"views": views}
