"""ValidatePartition: validate one part file of a batch; quarantine its bad rows; stage the good ones."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.batches import validate_partition
from functions.feature_store.partitions import is_partition_file
from functions.handlers.feature_context import SETTINGS, batch_staging, metadata, objects, offline
from functions.handlers.step_tracking import tracked_step
from functions.shared.objects import S3Uri
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("ValidatePartition", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One item of the first Map: ``{run_id, source, bucket, key}``; returns counts, never rows."""
    uri = S3Uri(event["bucket"], event["key"])
    if not is_partition_file(uri.key):
        return {"key": uri.key, "skipped": True}
    summary = validate_partition(
        batch_staging(event["run_id"]),
        objects(),
        offline(),
        source=project().raw_source(event["source"]),
        source_uri=str(uri),
        data=objects().get_bytes(uri),
    )
    logger.info("partition validated", extra=summary.to_dict())
    counts = {k: getattr(summary, k) for k in ("rows_in", "rows_valid", "rows_quarantined")}
    return {"key": uri.key, "skipped": False, **counts}
