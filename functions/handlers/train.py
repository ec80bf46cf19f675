"""Train: fit the model spec on the training part of the time-based split."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.objects import S3Uri
from functions.core.artifact import serialize_model, sha256_hex
from functions.core.errors import ArtifactIntegrityError
from functions.core.model_spec import model_spec
from functions.core.training import time_based_split, train_model
from functions.handlers.pipeline_context import SETTINGS, metadata, objects, run_artifact, settings
from functions.handlers.step_tracking import tracked_step

__all__ = ["SETTINGS", "handler", "read_dataset"]

logger = Logger()


def read_dataset(dataset: dict[str, Any]) -> pd.DataFrame:
    """The run's training set, refused if its bytes changed since LoadData hashed them."""
    data = objects().get_bytes(S3Uri.parse(dataset["uri"]))
    if sha256_hex(data) != dataset["sha256"]:
        raise ArtifactIntegrityError(f"training set {dataset['uri']} changed since it was recorded")
    return pd.read_parquet(io.BytesIO(data))


@logger.inject_lambda_context
@tracked_step("Train", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = model_spec(settings().model_name)
    split = time_based_split(read_dataset(event["dataset"]), spec)
    model = train_model(split.train, spec)
    artifact = serialize_model(model)
    target = run_artifact(event["run_id"], f"model-{artifact.sha256[:12]}.joblib")
    objects().put_bytes(target, artifact.data)
    logger.info("model trained", extra={"uri": str(target), "train_rows": len(split.train)})
    return {
        "artifact_uri": str(target),
        "sha256": artifact.sha256,
        "spec": spec.name,
        "params": {**spec.params, "seed": spec.seed, "estimator": spec.estimator.__name__},
        "train_rows": len(split.train),
    }
