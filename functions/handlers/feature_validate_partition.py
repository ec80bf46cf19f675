"""ValidatePartition: validate one part file of a batch; quarantine its bad rows; stage the good ones."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.objects import S3Uri
from functions.core.features.catalog import raw_source
from functions.core.features.manifest import sha256_hex
from functions.core.features.partitions import (
    SOURCE_FILE,
    PartitionSummary,
    is_partition_file,
    partition_id,
    valid_source_rows,
)
from functions.core.features.validation import ROW_NUMBER, read_raw_table, validate_rows
from functions.handlers.feature_context import SETTINGS, batch_staging, metadata, objects, offline
from functions.handlers.step_tracking import tracked_step

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("ValidatePartition", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One item of the first Map: ``{run_id, source, bucket, key}``; returns counts, never rows."""
    uri = S3Uri(event["bucket"], event["key"])
    if not is_partition_file(uri.key):
        return {"key": uri.key, "skipped": True}
    source, staging, part = raw_source(event["source"]), batch_staging(event["run_id"]), partition_id(uri.key)
    data = objects().get_bytes(uri)
    result = validate_rows(read_raw_table(data, uri.key), source.schema, unique_keys=source.unique_keys)
    quarantine_uri = None
    if result.rows_quarantined:
        bad = result.quarantined.assign(**{SOURCE_FILE: str(uri)})
        quarantine_uri = offline().write_quarantine(source.name, staging.run_id, bad, part=part)
    staged = result.valid.assign(**{ROW_NUMBER: valid_source_rows(result)})
    objects().put_parquet(staging.valid_uri(part), staged)
    summary = PartitionSummary(
        id=part,
        source_uri=str(uri),
        source_sha256=sha256_hex(data),
        **result.counts(),
        staged_uri=str(staging.valid_uri(part)),
        quarantine_uri=quarantine_uri,
        reasons=result.reasons(),
    )
    staging.put_summary(summary)
    logger.info("partition validated", extra=summary.to_dict())
    return {"key": uri.key, "skipped": False, **result.counts()}
