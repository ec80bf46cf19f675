"""AWS Batch entry point of training: the same ``train_candidate`` the Train Lambda runs.

Started by the pipeline's ``TrainOnBatch`` state (``batch:submitJob.sync``) with the container
command ``batch`` (see ``functions/entrypoint.sh``) and these variables beside the stage's
pipeline settings:

- ``MLOPS_RUN_ID``: the pipeline run;
- ``MLOPS_MODEL_NAME``: the project's model the run trains;
- ``MLOPS_SPLIT``: the Split step's output (JSON: train/holdout URIs and sha256, the params to train with);
- or ``MLOPS_TRIAL``: one trial of a search (the ``RunTrials`` Map item: trial, tuning parts, fixed params).

The result (artifact URI, sha256, params) is written to ``runs/<run id>/train/train-result.json``
(a trial's to ``runs/<run id>/trials/<n>/trial-result.json``); ``CollectTrainingResult`` (``Tune``'s
``collect``) reads it back, because a Batch job returns no payload to Step Functions.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping

from functions.shared.clients import client
from functions.shared.errors import ConfigurationError
from functions.shared.objects import ObjectStore, S3Uri
from functions.shared.settings import MODEL_NAME, PipelineSettings, project
from functions.training.search import Trial
from functions.training.steps import run_trial, train_candidate

__all__ = ["RUN_ID", "SETTINGS", "SPLIT", "TRIAL", "main"]

SETTINGS = PipelineSettings
RUN_ID = "MLOPS_RUN_ID"
SPLIT = "MLOPS_SPLIT"
TRIAL = "MLOPS_TRIAL"

logger = logging.getLogger("batch_train")


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Train once; exit status 0 on success (Batch marks the job SUCCEEDED), non-zero otherwise."""
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="batch_train", description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", default=env.get(RUN_ID), help=f"defaults to ${RUN_ID}")
    parser.add_argument("--split", default=env.get(SPLIT), help=f"JSON; defaults to ${SPLIT}")
    parser.add_argument("--trial", default=env.get(TRIAL), help=f"JSON: one trial of a search; defaults to ${TRIAL}")
    args = parser.parse_args(argv)
    if not args.run_id or not (args.split or args.trial):
        raise ConfigurationError(
            f"the run id and the split (or a trial) are required ({RUN_ID}, {SPLIT}/{TRIAL} or --run-id/--split)"
        )
    settings = PipelineSettings.from_env(env)
    store = ObjectStore(client("s3"))
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


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
