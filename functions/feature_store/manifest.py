"""Manifests: what an offline write stored, and what a training set was built from.

Both are frozen dataclasses with ``to_dict``/``from_dict`` so adapters store
them as JSON and the training pipeline records them as lineage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from functions.feature_store.definitions import FeatureView


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class StoredFile:
    """One Parquet file in the offline store: the rows of one write in one UTC month (``YYYY-MM``)."""

    uri: str
    sha256: str
    rows: int
    event_month: str


@dataclass(frozen=True)
class WriteManifest:
    """One append to the offline store of one view version."""

    write_id: str
    view: str
    version: int
    transformation: str
    source_uri: str
    source_sha256: str
    created_timestamp: str
    files: tuple[StoredFile, ...]
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WriteManifest:
        files = tuple(StoredFile(**f) for f in data["files"])
        return cls(**{**data, "files": files})


@dataclass(frozen=True)
class TrainingSetManifest:
    """The lineage of a training set: views and rules by version, every source file by sha256."""

    views: tuple[dict[str, Any], ...]
    files: tuple[StoredFile, ...]
    entity_rows: int
    entity_sha256: str
    strict: bool
    output_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def training_set_manifest(
    views: Sequence[FeatureView],
    files: Sequence[StoredFile],
    *,
    entity_rows: int,
    entity_sha256: str,
    strict: bool,
    output_sha256: str | None = None,
) -> TrainingSetManifest:
    """The manifest of a training set built from ``files`` of ``views``."""
    return TrainingSetManifest(
        views=tuple(
            {
                "name": view.name,
                "version": view.version,
                "transformation": str(view.transformation),
                "ttl_seconds": int(view.ttl.total_seconds()),
                "features": view.feature_names,
            }
            for view in views
        ),
        files=tuple(sorted(files, key=lambda f: f.uri)),
        entity_rows=entity_rows,
        entity_sha256=entity_sha256,
        strict=strict,
        output_sha256=output_sha256,
    )
