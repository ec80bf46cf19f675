"""Batch inference steps: start the run record, resolve the model once, predict one partition, summarize, finish.

The batch scores the version that serves (``serving_rule``: the ``champion`` alias, which only an
approved version can hold), resolved once per batch: never the newest registration, which under
manual approval may be a pending version nobody has reviewed. Every run is a record of the metadata
store's pipeline ``batch_inference`` (``mlops runs list --pipeline batch_inference``): the model
version and input as params, rows, partitions and output as the summary, and the error of a failure.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.offline_store import OfflineStore
from functions.metadata.metadata_store import MetadataStore
from functions.registry.artifact import sha256_hex
from functions.registry.model_registry import ModelRegistry, ModelVersion
from functions.registry.model_store import load_serving_model, resolve_serving
from functions.serving import steps as batch_steps
from functions.serving.signature import ModelSignature
from functions.shared.clients import client
from functions.shared.errors import DataValidationError
from functions.shared.objects import ObjectStore, S3Uri
from functions.shared.settings import BatchSettings, project

__all__ = ["PIPELINE", "SETTINGS", "handler"]

SETTINGS = BatchSettings
PIPELINE = "batch_inference"

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> BatchSettings:
    return BatchSettings.from_env()


def registry() -> ModelRegistry:
    return ModelRegistry(client("dynamodb"), settings().registry_table)


def metadata() -> MetadataStore:
    return MetadataStore(client("dynamodb"), settings().metadata_table)


def objects() -> ObjectStore:
    return ObjectStore(client("s3"))


@lru_cache(maxsize=4)
def classifier(model_name: str, version: int) -> tuple[Any, ModelVersion, str]:
    """The pinned version's model (ONNX when registered), its record and runtime, cached per warm container."""
    record = registry().get(model_name, version)
    model, runtime = load_serving_model(objects(), record)
    return model, record, runtime


def _start(event: dict[str, Any]) -> dict[str, Any]:
    request = event["input"] or {}
    run = metadata().start_run(
        run_id=event["run_id"],
        pipeline=PIPELINE,
        execution_arn=event["execution_arn"],
        trigger=request.get("trigger") or {"type": "manual"},
    )
    return {"run_id": run.run_id, "started_at": run.started_at}


def _resolve(event: dict[str, Any]) -> dict[str, Any]:
    run_id = event["run_id"]
    request = batch_steps.BatchInput.parse(event["input"] or {})
    # The version that serves: the champion (approved), never the newest registration.
    version = resolve_serving(registry(), settings().model_name)
    folder = S3Uri(settings().artifact_bucket, f"batch/{run_id}/")
    metadata().log_params(
        run_id, {"model_name": version.model_name, "model_version": version.version, "input": request.describe}
    )
    limit = int(event["max_partitions"])
    if request.entities_uri is not None:
        prepared = batch_steps.prepare_entities(
            objects(), OfflineStore(client("s3"), settings().feature_offline_bucket), project(),
            model_name=version.model_name, signature=ModelSignature.from_dict(version.signature),
            entities_uri=request.entities_uri, folder=folder, max_partitions=limit,
            as_of=datetime.fromisoformat(event["started_at"]),
        )  # fmt: skip
        source = prepared.prefix
        logger.info("entities joined", extra={"rows": prepared.rows, "partitions": prepared.partitions})
    else:
        assert request.input_uri is not None
        source = S3Uri.parse(request.input_uri.rstrip("/") + "/")
        batch_steps.check_partition_count(objects(), source, limit)
    return {
        "model_name": version.model_name,
        "version": version.version,
        "input": request.describe,
        "bucket": source.bucket,
        "prefix": source.key,
        "output_prefix": folder.key,
    }


def _partition(event: dict[str, Any]) -> dict[str, Any]:
    model, record, runtime = classifier(event["model_name"], int(event["version"]))
    run_id, key, prefix = event["run_id"], event["key"], event["prefix"]
    relative = key[len(prefix) :] if key.startswith(prefix) else key
    # The run's start, not now: a retried partition writes the same capture object and records.
    at = datetime.fromisoformat(event["started_at"])
    result = batch_steps.predict_partition(
        objects(), model, ModelSignature.from_dict(record.signature),
        model_name=record.model_name, version=record.version, runtime=runtime, run_id=run_id,
        source=S3Uri(event["bucket"], key),
        target=S3Uri(settings().artifact_bucket, f"{event['output_prefix']}predictions/{relative}"),
        captures=S3Uri(settings().capture_bucket, batch_steps.capture_key(record.model_name, run_id, key, at)),
        at=at,
    )  # fmt: skip
    logger.info("partition predicted", extra={"key": key, "rows": result.rows, "captured": result.captured})
    return result.__dict__


def _summarize(event: dict[str, Any]) -> dict[str, Any]:
    run_id, batch = event["run_id"], event["batch"]
    partitions = batch_steps.map_results(objects(), event["results"])
    if not partitions:
        raise DataValidationError(f"no Parquet objects under s3://{batch['bucket']}/{batch['prefix']}")
    manifest = {
        "model_name": batch["model_name"],
        "version": batch["version"],
        "input": batch["input"],
        "partitions": partitions,
        "rows": sum(int(p["rows"]) for p in partitions),
        "invalid_rows": sum(int(p["invalid_rows"]) for p in partitions),
        "captured": sum(int(p["captured"]) for p in partitions),
        "created_at": datetime.now(UTC).isoformat(),
    }
    body = json.dumps(manifest, indent=1).encode()
    target = S3Uri(settings().artifact_bucket, f"{batch['output_prefix']}manifest.json")
    objects().put_bytes(target, body, content_type="application/json")
    summary = {k: manifest[k] for k in ("rows", "invalid_rows", "captured")} | {
        "partitions": len(partitions), "output": str(target), "manifest_sha256": sha256_hex(body),
    }  # fmt: skip
    metadata().finish_run(run_id, status="SUCCEEDED", summary=summary)
    return {"run_id": run_id, "model_name": batch["model_name"], "version": batch["version"],
            "manifest_uri": str(target), **summary}  # fmt: skip


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """``action``: ``start``, ``resolve``, ``partition``, ``summarize`` or ``finish`` (a failure's record)."""
    action = event["action"]
    if action == "start":
        return _start(event)
    if action == "resolve":
        return _resolve(event)
    if action == "partition":
        return _partition(event)
    if action == "summarize":
        return _summarize(event)
    if action == "finish":
        metadata().finish_run(event["run_id"], status=event["status"], error=event.get("error"))
        logger.warning("batch run failed", extra={"run_id": event["run_id"], "error": event.get("error")})
        return {"run_id": event["run_id"], "status": event["status"]}
    raise ValueError(f"unknown action {action!r}; expected start, resolve, partition, summarize or finish")
