"""Batch inference steps: resolve the model once, predict one Parquet partition, summarize.

The batch scores the version that serves (``serving_rule``: the ``champion`` alias, which only an
approved version can hold), resolved once per batch: never the newest registration, which under
manual approval may be a pending version nobody has reviewed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.registry.artifact import sha256_hex
from functions.registry.model_registry import ModelRegistry, ModelVersion
from functions.registry.model_store import load_serving_model, resolve_serving
from functions.serving.batch_scoring import predict_frame
from functions.serving.signature import ModelSignature
from functions.shared.clients import client
from functions.shared.objects import ObjectStore, S3Uri
from functions.shared.settings import BatchSettings

__all__ = ["SETTINGS", "handler"]

SETTINGS = BatchSettings

logger = Logger()


@lru_cache(maxsize=1)
def settings() -> BatchSettings:
    return BatchSettings.from_env()


def registry() -> ModelRegistry:
    return ModelRegistry(client("dynamodb"), settings().registry_table)


@lru_cache(maxsize=4)
def classifier(model_name: str, version: int) -> tuple[Any, ModelVersion, str]:
    """The pinned version's model (ONNX when registered), its record and runtime, cached per warm container."""
    record = registry().get(model_name, version)
    model, runtime = load_serving_model(ObjectStore(client("s3")), record)
    return model, record, runtime


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event["action"]
    if action == "resolve":
        source = S3Uri.parse(event["input_uri"].rstrip("/") + "/")
        # The version that serves: the champion (approved), never the newest registration.
        version = resolve_serving(registry(), settings().model_name)
        return {
            "model_name": version.model_name,
            "version": version.version,
            "bucket": source.bucket,
            "prefix": source.key,
            "output_prefix": f"batch/{event['run_id']}/",
        }
    if action == "partition":
        model, record, runtime = classifier(event["model_name"], int(event["version"]))
        store = ObjectStore(client("s3"))
        frame = store.get_parquet(S3Uri(event["bucket"], event["key"]))
        out = predict_frame(
            frame,
            model,
            ModelSignature.from_dict(record.signature),
            record.model_name,
            record.version,
            source_key=event["key"],
            runtime=runtime,
        )
        relative = event["key"][len(event["prefix"]) :] if event["key"].startswith(event["prefix"]) else event["key"]
        target = S3Uri(settings().artifact_bucket, f"{event['output_prefix']}predictions/{relative}")
        store.put_parquet(target, out)
        logger.info("partition predicted", extra={"key": event["key"], "rows": len(out)})
        return {"output_uri": str(target), "rows": len(out), "key": event["key"]}
    if action == "summarize":
        batch, partitions = event["batch"], event["partitions"]
        manifest = {
            "model_name": batch["model_name"],
            "version": batch["version"],
            "input": f"s3://{batch['bucket']}/{batch['prefix']}",
            "partitions": sorted(partitions, key=lambda p: p["key"]),
            "rows": sum(int(p["rows"]) for p in partitions),
            "created_at": datetime.now(UTC).isoformat(),
        }
        body = json.dumps(manifest, indent=1).encode()
        target = S3Uri(settings().artifact_bucket, f"{batch['output_prefix']}manifest.json")
        ObjectStore(client("s3")).put_bytes(target, body, content_type="application/json")
        return {
            "manifest_uri": str(target),
            "rows": manifest["rows"],
            "partitions": len(partitions),
            "sha256": sha256_hex(body),
        }
    raise ValueError(f"unknown action {action!r}; expected resolve, partition or summarize")
