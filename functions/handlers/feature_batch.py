"""A partitioned feature run's batch-wide steps: plan the batch, reconcile its partitions, sum its writes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.batches import reconcile_batch, summarize_writes
from functions.feature_store.partitions import check_part_count, is_partition_file
from functions.handlers.feature_context import (
    SETTINGS,
    batch_folder,
    batch_staging,
    metadata,
    objects,
    offline,
    settings,
)
from functions.handlers.step_tracking import tracked_step
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``action``: ``plan`` (source_prefix or batch_marker_uri), ``reconcile`` or ``summarize`` (batch)."""
    steps = {"plan": plan, "reconcile": reconcile, "summarize": summarize}
    if event.get("action") not in steps:
        raise ValueError(f"unknown action {event.get('action')!r}; expected one of {sorted(steps)}")
    return steps[event["action"]](event, context)


@tracked_step("PlanBatch", metadata)
def plan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    folder, source = batch_folder(event["input"])
    project().raw_source(source)  # an unknown source fails here, before any partition is read
    parts = sum(1 for key in objects().keys(folder.bucket, folder.key) if is_partition_file(key))
    check_part_count(str(folder), parts, int(event["max_parts"]))
    return {"source": source, "source_prefix": str(folder), "bucket": folder.bucket, "prefix": folder.key}


@tracked_step("Reconcile", metadata)
def reconcile(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id, batch = event["run_id"], event["batch"]
    source = project().raw_source(batch["source"])
    views = project().views_of_source(source.name)
    staging = batch_staging(run_id)
    result = reconcile_batch(
        staging,
        objects(),
        offline(),
        source=source,
        views=views,
        source_prefix=batch["source_prefix"],
        max_bad_row_fraction=settings().max_bad_row_fraction,
    )
    logger.info("reconciled", extra={"counts": result.counts, "reasons": result.reasons})
    quarantined = result.counts["rows_quarantined"] > 0
    return {
        "counts": result.counts,
        "partitions": len(result.plan),
        "cross_partition_duplicates": result.duplicates,
        "report_uri": offline().uri(f"quarantine/{source.name}/{run_id}.json"),
        "quarantine_uri": offline().uri(f"quarantine/{source.name}/{run_id}/") if quarantined else None,
        "plan_uri": str(staging.plan_uri),
        "plan_bucket": staging.plan_uri.bucket,
        "plan_key": staging.plan_uri.key,
        "views": [{"view": v.name, "version": v.version, "rule": str(v.transformation)} for v in views],
    }


@tracked_step("SummarizeWrites", metadata)
def summarize(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    views = project().views_of_source(event["batch"]["source"])
    return {"writes": summarize_writes(batch_staging(event["run_id"]), views)}
