"""ValidateData: schema, size, label balance, and drift against the champion's training set."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, objects, registry, settings
from functions.handlers.step_tracking import tracked_step
from functions.shared.errors import ModelNotFoundError
from functions.shared.settings import project
from functions.training.data_checks import check_drift, check_label_balance, dataset_stats, drift
from functions.training.dataset import validate_training_frame
from functions.training.training_sets import read_manifest, read_verified_parquet

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("ValidateData", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(settings().model_name)
    dataset = event["dataset"]
    frame = validate_training_frame(read_verified_parquet(objects(), dataset["uri"], dataset["sha256"]), spec)
    stats = dataset_stats(frame, spec)
    check_label_balance(stats, max_majority_share=settings().max_majority_share)
    result: dict[str, Any] = {"rows": stats["rows"], "label_shares": stats["label_shares"], "drift": None}
    try:
        champion = registry().resolve_alias(settings().model_name, "champion")
    except ModelNotFoundError:
        champion = None
    if champion is not None and champion.manifest_uri:
        previous = read_manifest(objects(), champion.manifest_uri, champion.manifest_sha256)
        previous_frame = validate_training_frame(
            read_verified_parquet(objects(), previous["data_uri"], previous["data_sha256"]), spec
        )
        found = drift(stats, dataset_stats(previous_frame, spec))
        result["drift"] = {**found.as_dict(), "against_version": champion.version}
        check_drift(found, max_label_tvd=settings().max_label_drift, max_mean_shift=settings().max_mean_shift)
        metadata().log_metrics(event["run_id"], {"drift_label_tvd": found.label_tvd,
                                                 "drift_max_mean_shift": found.max_mean_shift})  # fmt: skip
    logger.info("training set validated", extra=result)
    return result
