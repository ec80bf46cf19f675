"""Materialize: bring the online store up to date with each view's offline writes."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.steps import materialize_views
from functions.handlers.feature_context import SETTINGS, metadata, offline, online, settings
from functions.handlers.step_tracking import tracked_step
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("Materialize", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    views = [project().feature_view(entry["view"], entry["version"]) for entry in event["transformed"]["views"]]
    # The lease outlives this invocation by a minute at most: a run that times out frees it soon after.
    hold = timedelta(milliseconds=context.get_remaining_time_in_millis()) + timedelta(minutes=1)
    materialized = materialize_views(
        views, offline(), online(), chunk_rows=settings().chunk_rows, owner=event["run_id"], lease_hold=hold
    )
    results = [asdict(r) for r in materialized]
    logger.info("materialized", extra={"views": results})
    return {"views": results}
