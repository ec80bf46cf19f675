"""Open and close a feature pipeline run record (first and last states of the feature pipeline)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.feature_context import SETTINGS, metadata, online
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``action``: ``start`` (run_id, execution_arn, trigger) or ``finish`` (run_id, status, error, summary)."""
    action, run_id = event["action"], event["run_id"]
    if action == "start":
        run = metadata().start_run(
            run_id=run_id,
            pipeline="features",
            execution_arn=event["execution_arn"],
            trigger=event.get("trigger") or {"type": "manual"},
        )
        logger.info("feature run started", extra={"run_id": run_id, "trigger": run.trigger})
        return {"run_id": run_id, "started_at": run.started_at}
    if action == "finish":
        if event["status"] == "FAILED":
            # A batch's run holds its views' materialization leases across the shards' Map: give them back.
            for view in project().feature_views:
                online().release_lease(view, run_id)
        metadata().finish_run(run_id, status=event["status"], error=event.get("error"), summary=event.get("summary"))
        logger.info("feature run finished", extra={"run_id": run_id, "status": event["status"]})
        return {"run_id": run_id, "status": event["status"]}
    raise ValueError(f"unknown action {action!r}; expected 'start' or 'finish'")
