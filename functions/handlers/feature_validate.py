"""Validate: check a raw file against its source schema; quarantine bad rows; stage the good ones."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.steps import validate_file
from functions.handlers.feature_context import SETTINGS, metadata, objects, offline, settings, source_name_of, staged
from functions.handlers.step_tracking import tracked_step
from functions.shared.objects import S3Uri
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("Validate", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id = event["run_id"]
    uri = S3Uri.parse(event["source_uri"])
    source = project().raw_source(event.get("source") or source_name_of(uri.key))
    checked = validate_file(
        offline(),
        source,
        objects().get_bytes(uri),
        name=uri.key,
        source_uri=str(uri),
        run_id=run_id,
        max_bad_row_fraction=settings().max_bad_row_fraction,
    )
    logger.info("validated", extra=checked.report)
    target = staged(run_id, "valid.parquet")
    objects().put_parquet(target, checked.valid)
    return {
        "source": source.name,
        "source_uri": checked.source_uri,
        "source_sha256": checked.source_sha256,
        "staged_uri": str(target),
        "counts": checked.counts,
        "quarantine_uri": checked.quarantine_uri,
    }
