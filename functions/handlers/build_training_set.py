"""BuildTrainingSet: build the run's training set from its source and write it with a manifest."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.metadata import dataset_node, run_node
from functions.adapters.training_sets import RawTableSource, TrainingSetRequest, store_training_set
from functions.core.model_spec import model_spec
from functions.handlers.pipeline_context import SETTINGS, metadata, objects, run_artifact, settings
from functions.handlers.step_tracking import tracked_step

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("BuildTrainingSet", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = model_spec(settings().model_name)
    request = TrainingSetRequest(
        source_uri=event["source_uri"],
        columns=(spec.timestamp, *spec.feature_names, spec.label),
        as_of=event.get("as_of"),
    )
    frame = RawTableSource(objects()).build(request)
    stored = store_training_set(
        objects(),
        frame,
        data_uri=run_artifact(event["run_id"], "training-set.parquet"),
        manifest_uri=run_artifact(event["run_id"], "training-set.manifest.json"),
        manifest={"source_uri": request.source_uri, "as_of": request.as_of, "model_spec": spec.name,
                  "columns": list(frame.columns), "run_id": event["run_id"]},
    )  # fmt: skip
    metadata().add_edge(
        dataset_node(stored.manifest_uri, stored.manifest_sha256, data_sha256=stored.sha256, rows=stored.rows),
        run_node(event["run_id"], "training"),
        "input_of",
    )
    logger.info("training set stored", extra=stored.pointer())
    return stored.pointer()
