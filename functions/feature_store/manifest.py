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
class FileGroup:
    """The files a training set read from one partition (a view version's event month), as one entry.

    ``uri`` is the file and ``sha256`` its own when the partition gave one file; with several, ``uri``
    is the partition's folder and ``sha256`` the sha256 of their sorted ``"<uri> <sha256>"`` lines
    (``files_sha256``), so the entry still identifies exactly those files. A partition written by a
    thousand daily runs is one entry, not a thousand: the manifest grows with months, not writes.
    """

    uri: str
    sha256: str
    rows: int
    event_month: str
    files: int


def files_sha256(files: Sequence[StoredFile]) -> str:
    """sha256 of the files' sorted ``"<uri> <sha256>"`` lines: one digest naming exactly these files."""
    lines = sorted(f"{f.uri} {f.sha256}" for f in files)
    return sha256_hex("\n".join(lines).encode())


def file_groups(files: Sequence[StoredFile]) -> tuple[FileGroup, ...]:
    """``files`` grouped by partition (folder and event month; a file read twice counts once), in that order."""
    partitions: dict[tuple[str, str], dict[str, StoredFile]] = {}
    for stored in files:
        partitions.setdefault((stored.uri.rsplit("/", 1)[0], stored.event_month), {})[stored.uri] = stored
    groups = []
    for (folder, month), by_uri in sorted(partitions.items()):
        members = sorted(by_uri.values(), key=lambda f: f.uri)
        if len(members) == 1:
            (only,) = members
            groups.append(FileGroup(only.uri, only.sha256, only.rows, month, 1))
            continue
        groups.append(FileGroup(folder, files_sha256(members), sum(f.rows for f in members), month, len(members)))
    return tuple(groups)


@dataclass(frozen=True)
class TrainingSetManifest:
    """The lineage of a training set: views and rules by version, the files read by partition (sha256)."""

    views: tuple[dict[str, Any], ...]
    files: tuple[FileGroup, ...]
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
        files=file_groups(files),
        entity_rows=entity_rows,
        entity_sha256=entity_sha256,
        strict=strict,
        output_sha256=output_sha256,
    )
