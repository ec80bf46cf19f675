"""Open and close a pipeline run record (first and last states of every pipeline)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata
from functions.metadata.metadata_store import run_node, trigger_node

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``action``: ``start`` (run_id, pipeline, execution_arn, trigger) or ``finish`` (run_id, status, error)."""
    action = event["action"]
    run_id = event["run_id"]
    if action == "start":
        run = metadata().start_run(
            run_id=run_id,
            pipeline=event["pipeline"],
            execution_arn=event["execution_arn"],
            trigger=event.get("trigger") or {"type": "manual"},
        )
        metadata().add_edge(trigger_node(run_id, run.trigger), run_node(run_id, run.pipeline), "started")
        logger.info("run started", extra={"run_id": run_id, "trigger": run.trigger})
        return {"run_id": run_id, "started_at": run.started_at}
    if action == "finish":
        error = event.get("error")
        metadata().finish_run(run_id, status=event["status"], error=error)
        logger.info("run finished", extra={"run_id": run_id, "status": event["status"], "error": error})
        return {"run_id": run_id, "status": event["status"]}
    raise ValueError(f"unknown action {action!r}; expected 'start' or 'finish'")
