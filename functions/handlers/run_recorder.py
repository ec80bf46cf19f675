"""Open and close a pipeline run record (first and last states of every pipeline).

A training run that fails leaves no usable model version: its failure path (``RecordFailure``)
withdraws the version the run registered, if it got that far (``ModelRegistry.withdraw_run``:
rejected, and ``champion`` moved back off it), before the run is marked FAILED. So a failure
after Register (Promote failing, say) cannot leave a pending version someone could approve later.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, registry
from functions.metadata.metadata_store import monitor_run_node, run_node, trigger_node
from functions.registry.alias_events import announce_alias_move
from functions.registry.alias_lineage import record_alias_change
from functions.registry.identity import caller_arn
from functions.retraining.triggers import MONITOR_RUN
from functions.shared.clients import client
from functions.shared.settings import project

__all__ = ["SETTINGS", "handler"]

logger = Logger()
FAILED = "FAILED"


def _start(event: dict[str, Any]) -> dict[str, Any]:
    run_id = event["run_id"]
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
    trigger = trigger_node(run_id, run.trigger)
    metadata().add_edge(trigger, run_node(run_id, run.pipeline), "started")
    evidence = (run.trigger.get("detail") or {}).get(MONITOR_RUN)
    if evidence:
        # The monitor run (and its drift report) whose metrics fired the alarm behind this retrain.
        metadata().add_edge(monitor_run_node(**evidence), trigger, "raised")
    logger.info("run started", extra={"run_id": run_id, "trigger": run.trigger, "model": model})
    if model is None:
        return {"run_id": run_id, "started_at": run.started_at}
    metadata().log_params(run_id, {"model": model})
    return {"run_id": run_id, "started_at": run.started_at, "model": model}


def withdraw_failed_run(run_id: str, error: dict[str, Any] | None) -> dict[str, Any] | None:
    """Withdraw the version a failed training run registered (if any); announce a champion moved back."""
    model = metadata().get_run(run_id).params.get("model")
    if model is None:  # not a training run, or it failed before choosing its model: nothing registered
        return None
    what = f"{(error or {}).get('Error', 'error')}: {str((error or {}).get('Cause', ''))[:300]}"
    withdrawal = registry().withdraw_run(
        str(model), run_id, by=caller_arn(client("sts")), reason=f"run {run_id} failed after registering ({what})"
    )
    if withdrawal is None:
        return None
    for change in withdrawal.alias_changes:
        record_alias_change(metadata(), change)
        if change.to_version is not None:  # a removal has no version to roll out; serving keeps what it runs
            announce_alias_move(client("events"), change)
    logger.warning(
        "withdrew the failed run's version",
        extra={"run_id": run_id, "version": withdrawal.version.version, "aliases": len(withdrawal.alias_changes)},
    )
    return {
        "model_name": withdrawal.version.model_name,
        "version": withdrawal.version.version,
        "alias_changes": [(c.alias, c.from_version, c.to_version) for c in withdrawal.alias_changes],
    }


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``action``: ``start`` (run_id, pipeline, execution_arn, trigger) or ``finish`` (run_id, status, error).

    A training run's start also decides which of the project's models it trains (the input's
    ``model``, or the only one) and returns it; every later step reads it from ``$.run.model``.
    """
    action = event["action"]
    run_id = event["run_id"]
    if action == "start":
        return _start(event)
    if action == "finish":
        error = event.get("error")
        try:
            withdrawn = withdraw_failed_run(run_id, error) if event["status"] == FAILED else None
        except Exception as exc:
            # The run still ends FAILED, its record naming both failures; the withdrawal's error propagates
            # (a retry of this step withdraws again: every part of it is idempotent).
            also = f"; withdrawing its version failed: {type(exc).__name__}: {exc}"
            failed = {**(error or {}), "Cause": f"{(error or {}).get('Cause', '')}{also}"}
            metadata().finish_run(run_id, status=event["status"], error=failed)
            raise
        metadata().finish_run(run_id, status=event["status"], error=error)
        logger.info("run finished", extra={"run_id": run_id, "status": event["status"], "error": error})
        return {"run_id": run_id, "status": event["status"], **({"withdrawn": withdrawn} if withdrawn else {})}
    raise ValueError(f"unknown action {action!r}; expected 'start' or 'finish'")
