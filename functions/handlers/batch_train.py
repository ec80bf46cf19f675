"""AWS Batch entry point of the training pipeline: the same step code the Lambda functions run.

Started by the pipeline's Batch states (``batch:submitJob.sync``) of a run the size rule sent to Batch
(``training/backend_rule.py``), with the container command ``batch`` (see ``functions/entrypoint.sh``) and
these variables beside the stage's pipeline settings:

- ``MLOPS_RUN_ID``: the pipeline run;
- ``MLOPS_MODEL_NAME``: the project's model the run trains;
- ``MLOPS_STEP``: a data-prep step (``BuildTrainingSet``, ``ValidateData``, ``Split``, ``Evaluate``), with
  the parts of its event as JSON (``MLOPS_INPUT``: the execution's input, ``MLOPS_DATASET``, ``MLOPS_SPLIT``,
  ``MLOPS_CANDIDATE``): the job calls that step's Lambda handler (``STEP_HANDLERS``) with the event its Lambda
  would get, so a step runs the same code on either backend and is recorded the same way;
- or ``MLOPS_SPLIT``: the Split step's output (JSON: train/holdout URIs and sha256, the params to train with);
- or ``MLOPS_TRIAL``: one trial of a search (the ``RunTrials`` Map item: trial, tuning parts, fixed params).

A Batch job returns no payload to Step Functions: a step's outcome is written to
``runs/<run id>/batch/<step>.json`` (``{"result": ...}`` or ``{"error": {"Error", "Cause"}}``, and the job
then fails) and ``CollectBatchStep`` reads it back; the training result to
``runs/<run id>/train/train-result.json`` (a trial's to ``runs/<run id>/trials/<n>/trial-result.json``),
read back by ``CollectTrainingResult`` (``Tune``'s ``collect``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions.shared.clients import client
from functions.shared.errors import ConfigurationError, MlopsError
from functions.shared.objects import ObjectStore, S3Uri
from functions.shared.settings import MODEL_NAME, PipelineSettings, project
from functions.training.search import Trial
from functions.training.steps import run_trial, train_candidate

__all__ = ["EVENT_PARTS", "RUN_ID", "SETTINGS", "SPLIT", "STEP", "STEP_HANDLERS", "TRIAL", "main", "step_result_key"]

SETTINGS = PipelineSettings
RUN_ID = "MLOPS_RUN_ID"
SPLIT = "MLOPS_SPLIT"
TRIAL = "MLOPS_TRIAL"
STEP = "MLOPS_STEP"
# A data-prep step's event: run id and model, and these parts (JSON) when the state passes them.
EVENT_PARTS = {"input": "MLOPS_INPUT", "dataset": "MLOPS_DATASET", "split": SPLIT, "candidate": "MLOPS_CANDIDATE"}
# Batch sets it in every job's container.
JOB_ID = "AWS_BATCH_JOB_ID"

# A data-prep step on Batch -> the module of its Lambda handler (the same code, called with the same event).
STEP_HANDLERS = {
    "BuildTrainingSet": "functions.handlers.build_training_set",
    "ValidateData": "functions.handlers.validate_data",
    "Split": "functions.handlers.split",
    "Evaluate": "functions.handlers.evaluate",
}

logger = logging.getLogger("batch_train")


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Train once; exit status 0 on success (Batch marks the job SUCCEEDED), non-zero otherwise."""
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="batch_train", description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", default=env.get(RUN_ID), help=f"defaults to ${RUN_ID}")
    parser.add_argument("--split", default=env.get(SPLIT), help=f"JSON; defaults to ${SPLIT}")
    parser.add_argument("--trial", default=env.get(TRIAL), help=f"JSON: one trial of a search; defaults to ${TRIAL}")
    parser.add_argument("--step", default=env.get(STEP), help=f"a data-prep step ({', '.join(STEP_HANDLERS)})")
    args = parser.parse_args(argv)
    if not args.run_id or not (args.split or args.trial or args.step):
        raise ConfigurationError(
            f"the run id and a step, the split or a trial are required ({RUN_ID}, {STEP}/{SPLIT}/{TRIAL} or "
            "--run-id/--step/--split/--trial)"
        )
    settings = PipelineSettings.from_env(env)
    store = ObjectStore(client("s3"))
    if args.step:
        event = {"run_id": args.run_id, "model": env.get(MODEL_NAME)}
        event |= {part: json.loads(env[name]) for part, name in EVENT_PARTS.items() if env.get(name)}
        target = S3Uri(settings.artifact_bucket, step_result_key(args.run_id, args.step))
        return _run_step(store, target, args.step, event, env)
    if args.trial:
        item = json.loads(args.trial)
        trial = Trial(item["trial"]["trial"], dict(item["trial"]["params"]))
        outcome = run_trial(
            store,
            project().model_for(env.get(MODEL_NAME)),
            item["tuning"],
            trial,
            fixed=item.get("fixed_params") or {},
            artifacts=S3Uri(settings.artifact_bucket, f"runs/{args.run_id}/trials/{trial.index}"),
        )
        print(json.dumps({"run_id": args.run_id, **outcome}, sort_keys=True))
        return 0
    result = train_candidate(
        store,
        project().model_for(env.get(MODEL_NAME)),
        json.loads(args.split),
        S3Uri(settings.artifact_bucket, f"runs/{args.run_id}/train"),
    )
    logger.info("trained %s -> %s", args.run_id, result["artifact_uri"])
    print(json.dumps({"run_id": args.run_id, **result}, sort_keys=True))
    return 0


@dataclass(frozen=True)
class JobContext:
    """What a step's Lambda handler reads of its context (the logger's fields), for a Batch job."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 0
    invoked_function_arn: str = ""


def step_result_key(run_id: str, step: str) -> str:
    """Where a data-prep step run on Batch leaves its outcome (in the artifact bucket)."""
    return f"runs/{run_id}/batch/{step}.json"


def _run_step(store: ObjectStore, target: S3Uri, step: str, event: dict[str, Any], env: Mapping[str, str]) -> int:
    """Run one data-prep step's handler on its event; its outcome to ``target``; 1 (a failed job) if it failed."""
    if step not in STEP_HANDLERS:
        raise ConfigurationError(f"unknown step {step!r}: Batch runs {', '.join(STEP_HANDLERS)}")
    if not event["model"]:
        raise ConfigurationError(f"step {step} needs the model ({MODEL_NAME})")
    handler = importlib.import_module(STEP_HANDLERS[step]).handler
    run_id = event["run_id"]
    context = JobContext(function_name=f"batch:{step}", aws_request_id=env.get(JOB_ID, run_id))
    outcome: dict[str, Any]
    try:
        outcome = {"step": step, "result": handler(event, context)}
    except Exception as exc:  # recorded by the step (tracked), then handed to the pipeline by name and reason
        if isinstance(exc, MlopsError):  # the step's own refusal (bad data, a failed check): no traceback
            logger.error("%s failed: %s: %s", step, type(exc).__name__, exc)
        else:
            logger.exception("%s failed", step)
        outcome = {"step": step, "error": {"Error": type(exc).__name__, "Cause": str(exc)}}
    store.put_bytes(target, json.dumps(outcome, sort_keys=True, default=str).encode(), content_type="application/json")
    if "error" in outcome:
        return 1
    logger.info("%s of run %s done on Batch -> %s", step, run_id, target)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
