"""Open and close a pipeline run record (first and last states of every pipeline)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata
from functions.metadata.metadata_store import run_node, trigger_node
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``action``: ``start`` (run_id, pipeline, execution_arn, trigger) or ``finish`` (run_id, status, error).

    A training run's start also decides which of the project's models it trains (the input's
    ``model``, or the only one) and returns it; every later step reads it from ``$.run.model``.
    """
    action = event["action"]
    run_id = event["run_id"]
    if action == "start":
        model = None
        if "input" in event:
            # Refused here, before any work, when the input names no model of a multi-model project.
            model = project().model_for((event["input"] or {}).get("model")).name
        run = metadata().start_run(
            run_id=run_id,
            pipeline=event["pipeline"],
            execution_arn=event["execution_arn"],
            trigger=event.get("trigger") or {"type": "manual"},
        )
        metadata().add_edge(trigger_node(run_id, run.trigger), run_node(run_id, run.pipeline), "started")
        logger.info("run started", extra={"run_id": run_id, "trigger": run.trigger, "model": model})
        if model is None:
            return {"run_id": run_id, "started_at": run.started_at}
        metadata().log_params(run_id, {"model": model})
        return {"run_id": run_id, "started_at": run.started_at, "model": model}
    if action == "finish":
        error = event.get("error")
        metadata().finish_run(run_id, status=event["status"], error=error)
        logger.info("run finished", extra={"run_id": run_id, "status": event["status"], "error": error})
        return {"run_id": run_id, "status": event["status"]}
    raise ValueError(f"unknown action {action!r}; expected 'start' or 'finish'")
