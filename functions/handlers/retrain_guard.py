"""Retrain guard: every retraining trigger passes here before the training pipeline starts.

Triggers (all through EventBridge): the retrain schedule (EventBridge
Scheduler), the drift and quality alarms entering ALARM, and new data. Every
retrain reads its training set from the feature store (point-in-time join of
the model's views) up to the trigger's time, over the window the model declares
(``ModelSpec.training_window``, applied by BuildTrainingSet). The guard refuses
a start inside the cooldown, while another run holds the lock, or once the
daily budget is spent; otherwise it starts the pipeline with the
trigger reason as the run's ``trigger``. An alarm's trigger names the monitor
run whose metrics fired it (``detail.monitor_run``: run id, window, drift and
quality figures, the HTML report), so the run's lineage reaches that evidence.
"Step Functions Execution Status Change" events of the training state machine
release the lock.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from functions.retraining.guard_policy import STARTED, GuardPolicy
from functions.retraining.guard_store import RetrainGuardStore, start_exclusively
from functions.retraining.trigger_evidence import monitor_evidence
from functions.retraining.triggers import (
    EXECUTION_STATUS_CHANGE,
    FINISHED_STATUSES,
    MONITOR_RUN,
    TriggerReason,
    alarm_period,
    trigger_reason,
)
from functions.shared.aws_errors import storage_error
from functions.shared.clients import client
from functions.shared.settings import RetrainGuardSettings

__all__ = ["SETTINGS", "handler"]

SETTINGS = RetrainGuardSettings

logger = Logger()
metrics = Metrics()


@lru_cache(maxsize=1)
def settings() -> RetrainGuardSettings:
    return RetrainGuardSettings.from_env()


def _store() -> RetrainGuardStore:
    return RetrainGuardStore(client("dynamodb"), settings().guard_table, settings().model_name)


def _release(event: dict[str, Any]) -> dict[str, Any]:
    detail = event["detail"]
    if detail.get("status") not in FINISHED_STATUSES:
        metrics.add_metric(name="RetrainLockReleased", unit=MetricUnit.Count, value=0)
        return {"outcome": "ignored", "status": detail.get("status")}
    released = _store().release(detail["executionArn"])
    metrics.add_metric(name="RetrainLockReleased", unit=MetricUnit.Count, value=int(released))
    logger.info("training run finished", extra={"execution": detail["executionArn"], "released": released})
    return {"outcome": "released" if released else "not_holder", "execution_arn": detail["executionArn"]}


def _running(execution_arn: str) -> bool:
    """Whether the execution holding the lock still runs (a lock whose status event was lost is taken over)."""
    try:
        return bool(client("stepfunctions").describe_execution(executionArn=execution_arn)["status"] == "RUNNING")
    except ClientError as exc:
        raise storage_error(exc, f"describing {execution_arn}") from exc


def training_window(at: datetime) -> dict[str, str]:
    """The feature-store read of a retrain: up to the trigger's time. Where it starts is the model's declared
    training window (one rule, in ``ModelSpec.training_window``), not the guard's."""
    return {"end": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def with_evidence(reason: TriggerReason, event: dict[str, Any]) -> TriggerReason:
    """An alarm's reason with the monitor run behind it, when one is recent enough to be the alarm's datapoint."""
    period = alarm_period(event) if reason.type == "alarm" else None
    if period is None:
        return reason
    evidence = monitor_evidence(client("s3"), settings().artifact_bucket, settings().model_name, reason.time, period)
    if evidence is None:
        logger.info("no monitor run behind the alarm", extra={"alarm": reason.source, "at": reason.time.isoformat()})
        return reason
    return dataclasses.replace(reason, detail={**reason.detail, MONITOR_RUN: evidence})


def _start(event: dict[str, Any]) -> dict[str, Any]:
    config, store = settings(), _store()
    reason = with_evidence(trigger_reason(event), event)
    policy = GuardPolicy(config.cooldown_seconds, config.daily_budget, config.lock_seconds)
    trigger = reason.to_dict()

    def start() -> str:
        try:
            execution = client("stepfunctions").start_execution(
                stateMachineArn=config.state_machine_arn,
                input=json.dumps(
                    {"model": config.model_name, "feature_store": training_window(reason.time), "trigger": trigger}
                ),
            )
        except ClientError as exc:
            raise storage_error(exc, "starting the training pipeline") from exc
        return str(execution["executionArn"])

    execution_arn, refusal = start_exclusively(store, reason.time, policy, trigger, start=start, running=_running)
    if refusal is not None:
        metrics.add_metric(name="RetrainRefused", unit=MetricUnit.Count, value=1)
        logger.info("retrain refused", extra={"outcome": refusal.outcome, "why": refusal.message, **trigger})
        return {"outcome": refusal.outcome, "message": refusal.message, "trigger": trigger}
    assert execution_arn is not None
    metrics.add_metric(name="RetrainStarted", unit=MetricUnit.Count, value=1)
    logger.info("retrain started", extra={"execution": execution_arn, **trigger})
    return {"outcome": STARTED, "execution_arn": execution_arn, "trigger": trigger}


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_dimension(name="model", value=settings().model_name)
    if event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        return _release(event)
    return _start(event)
