"""Train: fit the model spec on the run's training split (Lambda entry point).

``train_candidate`` is the one training entrypoint: this handler, the Batch job
(``functions/handlers/batch_train.py``) and ``mlops experiment run`` all call it.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, objects, run_artifact, settings
from functions.handlers.step_tracking import tracked_step
from functions.registry.artifact import serialize_model
from functions.shared.objects import ObjectStore, S3Uri
from functions.shared.settings import project
from functions.training.fit import train_model
from functions.training.model_spec import ModelSpec
from functions.training.training_sets import read_verified_parquet

__all__ = ["SETTINGS", "handler", "read_dataset", "train_candidate"]

logger = Logger()


def read_dataset(dataset: dict[str, Any]) -> pd.DataFrame:
    """The run's training set, refused if its bytes changed since they were hashed."""
    return read_verified_parquet(objects(), dataset["uri"], dataset["sha256"])


def train_candidate(store: ObjectStore, spec: ModelSpec, split: dict[str, Any], artifacts: S3Uri) -> dict[str, Any]:
    """Fit ``spec`` on the split's train part; write the artifact and a result document under ``artifacts``."""
    train = read_verified_parquet(store, split["train_uri"], split["train_sha256"])
    model = train_model(train, spec)
    artifact = serialize_model(model)
    target = S3Uri(artifacts.bucket, f"{artifacts.key.rstrip('/')}/model-{artifact.sha256[:12]}.joblib")
    store.put_bytes(target, artifact.data)
    result = {
        "artifact_uri": str(target),
        "sha256": artifact.sha256,
        "spec": spec.name,
        "params": {**spec.params, "seed": spec.seed, "estimator": type(model).__name__},
        "train_rows": len(train),
    }
    # The Batch path cannot return a payload to Step Functions: the result travels as this pointer.
    store.put_bytes(
        S3Uri(artifacts.bucket, f"{artifacts.key.rstrip('/')}/train-result.json"),
        json.dumps(result, sort_keys=True).encode(),
        content_type="application/json",
    )
    return result


@logger.inject_lambda_context
@tracked_step("Train", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(settings().model_name)
    result = train_candidate(objects(), spec, event["split"], run_artifact(event["run_id"], "train"))
    metadata().log_params(event["run_id"], {**result["params"], "training_backend": "lambda"})
    logger.info("model trained", extra={"uri": result["artifact_uri"], "train_rows": result["train_rows"]})
    return result
