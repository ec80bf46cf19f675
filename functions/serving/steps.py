"""Batch inference steps as plain typed functions (the ``batch_predict`` handler calls them); they touch S3.

A batch reads either a prefix of Parquet feature rows (``input_uri``) or an entity file (``entities_uri``:
join keys + ``event_timestamp``), which is checked, joined point-in-time against the offline store for
the model's feature views (``functions.feature_store.training_sets.build_training_set``, the join a
training set uses) and written as partitions under the run's folder, all before any partition starts.
Every partition's predicted rows are captured where the endpoint's captures land, marked as batch.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.training_sets import build_training_set
from functions.project.definition import Project
from functions.serving.batch_scoring import capture_records, check_entities, score_frame
from functions.serving.capture_format import capture_lines
from functions.serving.signature import ModelSignature
from functions.shared.errors import ConfigurationError, DataValidationError
from functions.shared.objects import ObjectStore, S3Uri

# Rows per partition of an entity file's joined rows (one child execution each).
ENTITY_PARTITION_ROWS = 50_000
_INPUTS = ("input_uri", "entities_uri")


@dataclass(frozen=True)
class BatchInput:
    """What a batch scores: exactly one of a Parquet prefix and an entity file."""

    input_uri: str | None = None
    entities_uri: str | None = None

    @classmethod
    def parse(cls, request: dict[str, Any]) -> BatchInput:
        """The execution input, or a one-line error naming what is wrong with it."""
        unknown = sorted(set(request) - {*_INPUTS, "trigger"})
        given = [name for name in _INPUTS if request.get(name) is not None]
        if unknown or len(given) != 1:
            raise DataValidationError(
                "batch inference takes {'input_uri': 's3://.../<prefix>/'} (Parquet feature rows) or "
                "{'entities_uri': 's3://.../<file>.parquet'} (join keys + event_timestamp), not both; got keys "
                f"{sorted(request)}"
            )
        value = request[given[0]]
        if not isinstance(value, str) or not value.startswith("s3://"):
            raise DataValidationError(f"{given[0]} must be an s3:// URI, got {value!r}")
        return cls(**{given[0]: value})

    @property
    def describe(self) -> str:
        return f"entities {self.entities_uri}" if self.entities_uri else f"prefix {self.input_uri}"


@dataclass(frozen=True)
class EntityPartitions:
    prefix: S3Uri
    rows: int
    partitions: int
    manifest_uri: S3Uri


def prepare_entities(
    objects: ObjectStore,
    offline: OfflineStore,
    project: Project,
    *,
    model_name: str,
    signature: ModelSignature,
    entities_uri: str,
    folder: S3Uri,
    max_partitions: int,
    as_of: datetime,
) -> EntityPartitions:
    """Check the entity file, join it point-in-time against the model's views, write the rows as partitions.

    The store is read as it was at ``as_of`` (the run's start): a retry writes the same partitions.
    Fails (one line, nothing written) on an unreadable file, missing columns, no rows or bad timestamps,
    when the views do not provide every feature the model takes, and past ``max_partitions``.
    """
    spec = project.model(model_name)
    views = [project.view_by_ref(ref) for ref in spec.feature_store.views]
    keys = list(dict.fromkeys(key for view in views for key in view.join_keys))
    try:
        raw = objects.get_parquet(S3Uri.parse(entities_uri))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"entity file {entities_uri} cannot be read as Parquet: {exc}") from None
    entities = check_entities(raw, keys, source=entities_uri)
    joined, manifest = build_training_set(offline, entities, views, strict=spec.feature_store.strict, as_of=as_of)
    missing = [name for name in signature.names if name not in joined.columns]
    if missing:
        names = ", ".join(view.qualified_name for view in views)
        raise ConfigurationError(f"feature views {names} provide no column(s) {missing} the model takes")
    parts = math.ceil(len(joined) / ENTITY_PARTITION_ROWS)
    if parts > max_partitions:
        raise DataValidationError(
            f"entity file {entities_uri} has {len(joined)} rows: {parts} partitions of {ENTITY_PARTITION_ROWS}, "
            f"more than the {max_partitions} one batch takes: split it"
        )
    prefix = S3Uri(folder.bucket, f"{folder.key}entities/")
    count = 0
    for count, start in enumerate(range(0, len(joined), ENTITY_PARTITION_ROWS), start=1):
        part = joined.iloc[start : start + ENTITY_PARTITION_ROWS]
        objects.put_parquet(S3Uri(prefix.bucket, f"{prefix.key}part-{count - 1:05d}.parquet"), part)
    manifest_uri = S3Uri(folder.bucket, f"{folder.key}entities.manifest.json")
    objects.put_bytes(manifest_uri, manifest.to_json().encode(), content_type="application/json")
    return EntityPartitions(prefix, len(joined), count, manifest_uri)


def check_partition_count(objects: ObjectStore, source: S3Uri, limit: int) -> int:
    """The objects under the batch's prefix: at least one, at most ``limit`` (the timeout is sized for that many)."""
    count = 0
    for count, _ in enumerate(objects.keys(source.bucket, source.key), start=1):
        if count > limit:
            raise DataValidationError(f"{source} holds more than {limit} objects, the most one batch takes: split it")
    if count == 0:
        raise DataValidationError(f"no objects under {source}: nothing to score")
    return count


@dataclass(frozen=True)
class PartitionResult:
    output_uri: str
    rows: int
    invalid_rows: int
    captured: int
    key: str


def predict_partition(
    objects: ObjectStore,
    model: Any,
    signature: ModelSignature,
    *,
    model_name: str,
    version: int,
    runtime: str,
    run_id: str,
    source: S3Uri,
    target: S3Uri,
    captures: S3Uri,
    at: datetime,
) -> PartitionResult:
    """Score one Parquet object into ``target`` and write its capture lines to ``captures`` (same keys on a retry)."""
    scored = score_frame(
        objects.get_parquet(source), model, signature, model_name, version,
        source_key=source.key, runtime=runtime, run_id=run_id,
    )  # fmt: skip
    objects.put_parquet(target, scored.frame)
    encoded = capture_lines(capture_records(scored, signature, at=at))
    if encoded.lines:
        body = "".join(f"{line}\n" for line in encoded.lines).encode()
        objects.put_bytes(captures, body, content_type="application/x-ndjson")
    invalid = int((~scored.valid).sum())
    return PartitionResult(str(target), len(scored.frame), invalid, encoded.records, source.key)


def capture_key(model_name: str, run_id: str, source_key: str, at: datetime) -> str:
    """Where a partition's captures go: the model's hour folder of the run's start (the monitor reads it)."""
    digest = hashlib.sha256(source_key.encode()).hexdigest()[:16]
    return f"captures/model={model_name}/{at:%Y/%m/%d/%H}/batch-{run_id}-{digest}.jsonl"


def map_results(objects: ObjectStore, details: dict[str, Any]) -> list[dict[str, Any]]:
    """The children's outputs a Distributed Map's ResultWriter wrote (its manifest, then each SUCCEEDED file)."""
    manifest = json.loads(objects.get_bytes(S3Uri(details["Bucket"], details["Key"])))
    outputs: list[dict[str, Any]] = []
    for listed in manifest["ResultFiles"].get("SUCCEEDED", []):
        for entry in json.loads(objects.get_bytes(S3Uri(manifest["DestinationBucket"], listed["Key"]))):
            outputs.append(json.loads(entry["Output"]))
    failed = sum(1 for _ in manifest["ResultFiles"].get("FAILED", []))
    if failed:
        raise DataValidationError(f"{failed} result file(s) of failed partitions in {details['Key']}")
    return sorted(outputs, key=lambda output: str(output["key"]))
