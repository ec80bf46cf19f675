"""BuildTrainingSet: build the run's training set from its source and write it with a manifest.

The source comes from the execution's input: ``{"feature_store": {...}}`` (a
point-in-time join of the model's feature views and its labelled feedback, the
default for every automatic retrain) or ``{"source_uri": ...}`` (a table in S3). The join runs in this
function, or on Athena past the stage's ``athena_threshold_rows`` (``feature_store/join_engine.py``).
It also answers whether the run is worth training (``changed``): not when the set
and the code are those the champion was trained on (``training/retrain_rule.py``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.offline_store import OfflineStore
from functions.handlers.pipeline_context import metadata, objects, registry, run_folder
from functions.handlers.step_tracking import tracked_step
from functions.metadata.metadata_store import dataset_node, run_node
from functions.shared.clients import client
from functions.shared.settings import TrainingSetSettings, project
from functions.training.steps import build_training_set, decide_retrain

__all__ = ["SETTINGS", "handler"]

SETTINGS = TrainingSetSettings

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> TrainingSetSettings:
    return TrainingSetSettings.from_env()


@logger.inject_lambda_context
@tracked_step("BuildTrainingSet", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = {k: v for k, v in event["input"].items() if k not in ("trigger", "model")}
    offline = OfflineStore(client("s3"), settings().feature_offline_bucket)
    spec = project().model(event["model"])
    built = build_training_set(
        objects(), offline, project(), spec, request, run_id=event["run_id"], base=run_folder(event["run_id"])
    )
    stored, views = built.stored, built.feature_views
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
    decision = decide_retrain(registry(), spec, stored, settings().code_version)
    rows_by_source = built.origin.get("rows_by_source") or {built.origin["source"]: stored.rows}
    # How the store's rows were joined (pandas or Athena, the feature rows it weighed, Athena's query ids).
    join = {"training_join": built.origin["join"]} if built.origin.get("join") else {}
    metadata().log_params(
        event["run_id"], {"training_rows_by_source": rows_by_source, "retrain_decision": decision.reason, **join}
    )
    logger.info("training set stored", extra={**stored.pointer(), **decision.to_dict()})
    return {**stored.pointer(), "rows_by_source": rows_by_source, **decision.to_dict()}
