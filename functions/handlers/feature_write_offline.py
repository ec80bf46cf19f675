"""WriteOffline: append each view's rows to the offline store (idempotent per source file)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.steps import write_offline
from functions.handlers.feature_context import SETTINGS, metadata, objects, offline
from functions.handlers.step_tracking import tracked_step
from functions.shared.objects import S3Uri
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("WriteOffline", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id, validation = event["run_id"], event["validation"]
    transformed = [
        (project().feature_view(e["view"], e["version"]), objects().get_parquet(S3Uri.parse(e["staged_uri"])))
        for e in event["transformed"]["views"]
    ]
    writes = write_offline(
        offline(),
        transformed,
        source_uri=validation["source_uri"],
        source_sha256=validation["source_sha256"],
        created=datetime.now(UTC),
        write_id=run_id,
    )
    logger.info("offline write", extra={"writes": writes})
    return {"writes": writes}
