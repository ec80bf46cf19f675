"""TransformPartition: one reconciled partition through every view's rule, appended to the offline store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.batches import write_partition
from functions.feature_store.partitions import PlannedPartition
from functions.handlers.feature_context import SETTINGS, batch_staging, metadata, objects, offline
from functions.handlers.step_tracking import tracked_step
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("TransformPartition", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One item of the second Map: ``{run_id, source, partition}`` (an entry of the reconciled plan)."""
    partition = PlannedPartition.from_dict(event["partition"])
    source = project().raw_source(event["source"])
    writes = write_partition(
        batch_staging(event["run_id"]),
        objects(),
        offline(),
        partition=partition,
        views=project().views_of_source(source.name),
        source=source,
        created=datetime.now(UTC),
    )
    logger.info("partition written", extra={"partition": partition.source_uri, "writes": writes})
    return {"partition": partition.id, "rows": partition.rows}
