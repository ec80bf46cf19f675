"""Validate: check a raw file against its source schema; quarantine bad rows; stage the good ones."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.manifest import sha256_hex
from functions.feature_store.validation import enforce_bad_row_fraction, read_raw_table, validate_rows
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
    data = objects().get_bytes(uri)
    result = validate_rows(read_raw_table(data, uri.key), source.schema, unique_keys=source.unique_keys)
    quarantine_uri = (
        offline().write_quarantine(source.name, run_id, result.quarantined) if result.rows_quarantined else None
    )
    report = {**result.counts(), "reasons": result.reasons(), "quarantine_uri": quarantine_uri, "source_uri": str(uri)}
    offline().put_json(f"quarantine/{source.name}/{run_id}.json", report)
    logger.info("validated", extra=report)
    # After the quarantine is written, so a rejected batch still shows why; before any store write.
    enforce_bad_row_fraction(result, settings().max_bad_row_fraction)
    target = staged(run_id, "valid.parquet")
    objects().put_parquet(target, result.valid)
    return {
        "source": source.name,
        "source_uri": str(uri),
        "source_sha256": sha256_hex(data),
        "staged_uri": str(target),
        "counts": result.counts(),
        "quarantine_uri": quarantine_uri,
    }
