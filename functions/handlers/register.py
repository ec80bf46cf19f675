"""Register: record the candidate as a new, immutable model version with its full lineage.

Idempotent per run (the run id is the registry's idempotency key): a Step Functions retry of this
step, after a throttled write anywhere in it, finds the version the first attempt registered and
finishes the same work (ONNX form, drift baseline, lineage) for that version; it never registers a
second one. A failure after this step (Promote) withdraws the version (see ``run_recorder``).

A candidate that failed the quality gate is registered too, as ``rejected`` by ``quality-gate``
with the gate's reason: the registry then answers "what was tried and why it was refused", and
no alias can ever point at it (aliases need an approved version). ``latest`` skips rejected
versions.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.handlers.pipeline_context import SETTINGS, metadata, objects, registry, run_artifact, settings
from functions.handlers.step_tracking import tracked_step
from functions.metadata.metadata_store import model_node, run_node
from functions.monitoring.baseline import build_baseline
from functions.monitoring.monitor_store import store_baseline
from functions.registry.artifact import load_verified_model
from functions.registry.model_registry import PENDING, REJECTED
from functions.registry.onnx_model import OnnxExport, export_onnx
from functions.serving.signature import ModelSignature
from functions.shared.clients import client
from functions.shared.objects import S3Uri
from functions.shared.settings import project
from functions.training.fit import model_input
from functions.training.training_sets import read_verified_parquet

__all__ = ["SETTINGS", "handler"]

logger = Logger()


@logger.inject_lambda_context
@tracked_step("Register", metadata)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    spec = project().model(event["model"])
    candidate, dataset, evaluation = event["candidate"], event["dataset"], event["evaluation"]
    passed = bool(evaluation["passed"])
    signature = ModelSignature.from_spec(spec)
    onnx_fields: dict[str, str | None] = {}
    if passed:
        # Serving form: ONNX when skl2onnx converts the model type, else scikit-learn (reason recorded).
        # All-numeric models take one float tensor; others one tensor per feature, checked on training rows.
        model = load_verified_model(objects().get_bytes(S3Uri.parse(candidate["artifact_uri"])), candidate["sha256"])
        split = event["split"]
        train = read_verified_parquet(objects(), split["train_uri"], split["train_sha256"])
        onnx = export_onnx(model, signature, sample=None if signature.all_numeric else train[spec.feature_names])
        if isinstance(onnx, OnnxExport):
            target = run_artifact(event["run_id"], f"model-{onnx.sha256[:12]}.onnx")
            objects().put_bytes(target, onnx.data)
            onnx_fields = {"onnx_uri": str(target), "onnx_sha256": onnx.sha256}
        else:
            logger.warning("served by scikit-learn: no ONNX conversion", extra={"reason": onnx.reason})
            onnx_fields = {"onnx_unsupported_reason": onnx.reason}
    version = registry().register(
        model_name=spec.name,
        artifact_uri=candidate["artifact_uri"],
        artifact_sha256=candidate["sha256"],
        metrics={**evaluation["metrics"], **{f"f1_{k}": v for k, v in evaluation["per_class_f1"].items()}},
        params=candidate["params"],
        signature=signature.to_dict(),
        training_data_uri=dataset["uri"],
        training_data_sha256=dataset["sha256"],
        run_id=event["run_id"],
        manifest_uri=dataset["manifest_uri"],
        manifest_sha256=dataset["manifest_sha256"],
        code_version=settings().code_version,
        execution_id=event["execution_id"],
        trigger=event.get("trigger") or {},
        approval_status=PENDING if passed else REJECTED,
        approval_by="" if passed else "quality-gate",
        approval_reason="" if passed else evaluation["reason"],
        **onnx_fields,
    )
    if passed:
        # The drift baseline monitoring compares live traffic with: training features and predictions
        # (a regressor's as numbers), the model given its input as in training.
        features = train[spec.feature_names]
        baseline = build_baseline(
            features,
            spec.feature_names,
            model.predict(model_input(train, spec)),
            numeric_predictions=signature.is_regression,
        )
        store_baseline(client("s3"), settings().artifact_bucket, version.model_name, version.version, baseline)
    metadata().add_edge(
        run_node(event["run_id"], "training"),
        model_node(version.model_name, version.version, artifact_sha256=version.artifact_sha256),
        "produced",
    )
    # Feature view -> dataset, so "which models used view X" has an answer (a raw-table dataset has no views).
    metadata().link_feature_views(f"dataset:{dataset['manifest_sha256']}")
    logger.info("model registered", extra={"model": version.model_name, "version": version.version})
    return {
        "model_name": version.model_name,
        "version": version.version,
        "approval_status": version.approval_status,
        "onnx": version.onnx_uri is not None,
    }
