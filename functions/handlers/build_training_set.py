"""BuildTrainingSet: build the run's training set from its source and write it with a manifest.

The source comes from the execution's input: ``{"feature_store": {...}}`` (a
point-in-time join of the model's feature views, the default for every
automatic retrain) or ``{"source_uri": ...}`` (a table in S3).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.offline_store import OfflineStore
from functions.handlers.pipeline_context import metadata, objects, run_artifact
from functions.handlers.step_tracking import tracked_step
from functions.metadata.metadata_store import dataset_node, run_node
from functions.shared.clients import client
from functions.shared.settings import TrainingSetSettings, project
from functions.training.training_sets import store_training_set, training_source

__all__ = ["SETTINGS", "handler"]

SETTINGS = TrainingSetSettings

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> TrainingSetSettings:
    return TrainingSetSettings.from_env()


@logger.inject_lambda_context
@tracked_step("BuildTrainingSet", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(settings().model_name)
    request = {k: v for k, v in event["input"].items() if k != "trigger"}
    offline = OfflineStore(client("s3"), settings().feature_offline_bucket)
    built = training_source(request, objects=objects(), offline=offline, project=project()).build(spec)
    stored = store_training_set(
        objects(),
        built.frame,
        data_uri=run_artifact(event["run_id"], "training-set.parquet"),
        manifest_uri=run_artifact(event["run_id"], "training-set.manifest.json"),
        manifest={**built.origin, "model_spec": spec.name, "columns": list(built.frame.columns),
                  "run_id": event["run_id"]},
    )  # fmt: skip
    views = [f"{v['name']}:v{v['version']}" for v in built.origin.get("feature_store", {}).get("views", [])]
    metadata().add_edge(
        dataset_node(
            stored.manifest_uri,
            stored.manifest_sha256,
            data_sha256=stored.sha256,
            rows=stored.rows,
            source=built.origin["source"],
            **({"feature_views": views} if views else {}),
        ),
        run_node(event["run_id"], "training"),
        "input_of",
    )
    logger.info("training set stored", extra={**stored.pointer(), "source": built.origin["source"]})
    return stored.pointer()
