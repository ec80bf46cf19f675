"""Where training sets come from, and their manifests.

``TrainingSetSource`` is the interface the feature store implements (point-in-time join of
feature views onto labelled entities). Until it lands, ``RawTableSource`` reads the shipped
raw table (CSV or Parquet in S3) through the same interface, so the pipeline does not change
when the source does.

A manifest is a small JSON document describing one training set: where its Parquet file is,
the file's sha256, the source, the time range, row count and the statistics later runs compare
against (drift). The manifest's own sha256 identifies the training set in the registry and the
lineage graph.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from functions.adapters.objects import ObjectStore, S3Uri
from functions.core.artifact import sha256_hex
from functions.core.errors import ArtifactIntegrityError


@dataclass(frozen=True)
class TrainingSetRequest:
    """What to build: the spec's columns, from ``source_uri``, optionally up to ``as_of``."""

    source_uri: str
    columns: tuple[str, ...]
    as_of: str | None = None


class TrainingSetSource(Protocol):
    def build(self, request: TrainingSetRequest) -> pd.DataFrame: ...


class RawTableSource:
    """The raw table as shipped: every row, the requested columns (missing ones are left to validation)."""

    def __init__(self, objects: ObjectStore) -> None:
        self._objects = objects

    def build(self, request: TrainingSetRequest) -> pd.DataFrame:
        uri = S3Uri.parse(request.source_uri)
        frame = self._objects.get_csv(uri) if uri.key.endswith(".csv") else self._objects.get_parquet(uri)
        return frame[[c for c in request.columns if c in frame.columns]]


@dataclass(frozen=True)
class StoredTrainingSet:
    uri: str
    sha256: str
    manifest_uri: str
    manifest_sha256: str
    rows: int

    def pointer(self) -> dict[str, Any]:
        return dict(self.__dict__)


def store_training_set(
    objects: ObjectStore, frame: pd.DataFrame, *, data_uri: S3Uri, manifest_uri: S3Uri, manifest: dict[str, Any]
) -> StoredTrainingSet:
    data = objects.put_parquet(data_uri, frame)
    document = {**manifest, "data_uri": str(data_uri), "data_sha256": sha256_hex(data), "rows": len(frame)}
    body = json.dumps(document, sort_keys=True, indent=1).encode()
    objects.put_bytes(manifest_uri, body, content_type="application/json")
    return StoredTrainingSet(str(data_uri), sha256_hex(data), str(manifest_uri), sha256_hex(body), len(frame))


def read_manifest(objects: ObjectStore, uri: str, sha256: str) -> dict[str, Any]:
    """The manifest at ``uri``, refused if its bytes are not the recorded ones."""
    body = objects.get_bytes(S3Uri.parse(uri))
    if sha256_hex(body) != sha256:
        raise ArtifactIntegrityError(f"training-set manifest {uri} does not match its recorded sha256")
    document: dict[str, Any] = json.loads(body)
    return document


def read_verified_parquet(objects: ObjectStore, uri: str, sha256: str) -> pd.DataFrame:
    """A Parquet file of the run, refused if its bytes changed since they were hashed."""
    data = objects.get_bytes(S3Uri.parse(uri))
    if sha256_hex(data) != sha256:
        raise ArtifactIntegrityError(f"{uri} changed since it was recorded (sha256 mismatch)")
    return pd.read_parquet(io.BytesIO(data))
