"""The training pipeline's hyperparameter search (``PlanTrials`` -> ``RunTrials`` Map -> ``ChooseBest``).

They run in the Train function, the training entrypoint (``train.py`` dispatches on the event's ``action``);
the Map's items each run one trial:

- ``plan``: split the train part into fit and validation parts, plan the trials (``search.plan_trials``);
- ``trial``: fit one trial through the training entrypoint, score it on the validation part, record it;
- ``collect``: record a trial that ran on AWS Batch from its result document;
- ``failed``: record a trial's failure (the Map item's Catch), so one failed trial never fails the search;
- ``choose``: pick the best recorded trial by the gate's primary metric; the split Train then fits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import metadata, objects, run_artifact, run_folder
from functions.handlers.step_tracking import tracked_step
from functions.metadata.metadata_store import TrialRecord, now_iso
from functions.shared.settings import project
from functions.training.search import FAILED, RUNNING, SUCCEEDED, Trial
from functions.training.steps import plan_search, record_search, run_trial

__all__ = ["ACTIONS"]

logger = Logger(child=True)


@tracked_step("PlanTrials", metadata)
def _plan(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(event["model"])
    request = event.get("input") or {}
    planned = plan_search(objects(), spec, event["split"], request, base=run_folder(event["run_id"]))
    backend = event["backend"]  # where the state machine's size rule (ChooseTrainingBackend) sent the run
    logger.info("search planned", extra={"trials": planned["count"], "backend": backend})
    return {**planned, "backend": backend}


def _trial(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(event["model"])
    trial = Trial(event["trial"]["trial"], dict(event["trial"]["params"]))
    started_at = now_iso()
    store = metadata()
    store.record_trial(event["run_id"], TrialRecord(trial.index, RUNNING, trial.params, started_at=started_at))
    outcome = run_trial(objects(), spec, event["tuning"], trial, fixed=event.get("fixed_params") or {},
                        artifacts=run_artifact(event["run_id"], f"trials/{trial.index}"))  # fmt: skip
    store.record_trial(event["run_id"], TrialRecord(trial.index, SUCCEEDED, trial.params, outcome["metrics"],
                       started_at, now_iso(), outcome["duration_s"], "lambda"))  # fmt: skip
    return {"trial": trial.index, "status": SUCCEEDED}


def _collect(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    index = event["trial"]["trial"]
    outcome = json.loads(objects().get_bytes(run_artifact(event["run_id"], f"trials/{index}/trial-result.json")))
    metadata().record_trial(event["run_id"], TrialRecord(index, SUCCEEDED, outcome["params"], outcome["metrics"],
                            outcome["started_at"], now_iso(), outcome["duration_s"], "batch"))  # fmt: skip
    return {"trial": index, "status": SUCCEEDED}


def _failed(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    index, error = event["trial"]["trial"], event.get("error") or {}
    store = metadata()
    recorded = store.trial(event["run_id"], index)
    detail = _detail(error)
    ended_at = now_iso()
    started_at = recorded.started_at if recorded else None
    duration = _seconds(ended_at) - _seconds(started_at) if started_at else None
    if isinstance(detail.get("StartedAt"), int) and isinstance(detail.get("StoppedAt"), int):  # a Batch job's times
        started_at = datetime.fromtimestamp(detail["StartedAt"] / 1000, UTC).isoformat()
        duration = (detail["StoppedAt"] - detail["StartedAt"]) / 1000
    message = detail.get("errorMessage") or detail.get("StatusReason") or str(error.get("Cause", ""))
    record = TrialRecord(
        index,
        FAILED,
        dict(event["trial"]["params"]),
        started_at=started_at,
        ended_at=ended_at,
        duration_s=max(0.0, duration) if duration is not None else None,
        backend=event.get("backend", "lambda"),
        error=f"{error.get('Error', 'Error')}: {' '.join(str(message).split())[:1000]}",
    )
    store.record_trial(event["run_id"], record)
    logger.warning("trial failed", extra={"trial": index, "error": error.get("Error")})
    return {"trial": index, "status": FAILED}


@tracked_step("ChooseBest", metadata)
def _choose(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(event["model"])
    chosen = record_search(metadata(), event["run_id"], spec, event["split"])
    logger.info("best trial chosen", extra=chosen["search"])
    return chosen


Action = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
ACTIONS: dict[str, Action] = {"plan": _plan, "trial": _trial, "collect": _collect, "failed": _failed,
                              "choose": _choose}  # fmt: skip


def _detail(error: dict[str, Any]) -> dict[str, Any]:
    """A Lambda error's Cause is its JSON (errorMessage), a Batch job's the job (StatusReason, times); else text."""
    try:
        parsed = json.loads(str(error.get("Cause", "")))
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
