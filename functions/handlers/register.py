"""Register: record the candidate as a new, immutable model version."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.objects import S3Uri
from functions.core.artifact import load_verified_model
from functions.core.model_spec import model_spec
from functions.core.onnx_model import OnnxExport, export_onnx
from functions.core.signature import ModelSignature
from functions.handlers.pipeline_context import SETTINGS, metadata, objects, registry, run_artifact, settings
from functions.handlers.step_tracking import tracked_step

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("Register", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = model_spec(settings().model_name)
    candidate, dataset = event["candidate"], event["dataset"]
    model = load_verified_model(objects().get_bytes(S3Uri.parse(candidate["artifact_uri"])), candidate["sha256"])
    onnx = export_onnx(model, len(spec.features))
    onnx_fields: dict[str, str | None] = {"onnx_unsupported_reason": None}
    if isinstance(onnx, OnnxExport):
        target = run_artifact(event["run_id"], f"model-{onnx.sha256[:12]}.onnx")
        objects().put_bytes(target, onnx.data)
        onnx_fields = {"onnx_uri": str(target), "onnx_sha256": onnx.sha256}
    else:
        logger.warning("served by scikit-learn: no ONNX conversion", extra={"reason": onnx.reason})
        onnx_fields = {"onnx_unsupported_reason": onnx.reason}
    version = registry().register(
        model_name=settings().model_name,
        artifact_uri=candidate["artifact_uri"],
        artifact_sha256=candidate["sha256"],
        metrics=event["evaluation"]["metrics"],
        params=candidate["params"],
        signature=ModelSignature.from_spec(spec).to_dict(),
        training_data_uri=dataset["uri"],
        training_data_sha256=dataset["sha256"],
        run_id=event["run_id"],
        **onnx_fields,
    )
    logger.info("model registered", extra={"model": version.model_name, "version": version.version})
    return {"model_name": version.model_name, "version": version.version, "onnx": version.onnx_uri is not None}
