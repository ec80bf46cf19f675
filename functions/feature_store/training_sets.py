"""Point-in-time-correct training sets from the offline store, with their manifest (lineage)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import pandas as pd

from functions.feature_store.definitions import EVENT_TIMESTAMP, FeatureView
from functions.feature_store.manifest import StoredFile, TrainingSetManifest, training_set_manifest
from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.point_in_time import point_in_time_join, to_utc
from functions.shared.errors import DataValidationError


def frame_sha256(frame: pd.DataFrame) -> str:
    """sha256 of a frame's Parquet bytes (what a training run stores)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, engine="pyarrow")
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def entity_events(
    rows: pd.DataFrame, view: FeatureView, *, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """The distinct (join keys, event time) of ``view``'s ``rows`` within ``[start, end]``, oldest first.

    These are the entity rows of a training set whose label lives in the store:
    each stored event becomes one example, joined point-in-time to every view.
    """
    columns = [*view.join_keys, EVENT_TIMESTAMP]
    events = within(rows[columns].drop_duplicates(), start=start, end=end)
    return events.sort_values([EVENT_TIMESTAMP, *view.join_keys], kind="stable").reset_index(drop=True)


def within(entities: pd.DataFrame, *, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """The rows whose ``event_timestamp`` lies in ``[start, end]`` (an open side when ``None``)."""
    stamps = to_utc(entities[EVENT_TIMESTAMP], what=f"entity {EVENT_TIMESTAMP}")
    inside = pd.Series(True, index=entities.index)
    if start is not None:
        inside &= stamps >= pd.Timestamp(start)
    if end is not None:
        inside &= stamps <= pd.Timestamp(end)
    return entities[inside]


def build_training_set(
    offline: OfflineStore,
    entities: pd.DataFrame,
    views: Sequence[FeatureView],
    *,
    strict: bool = False,
    full_feature_names: bool = False,
    progress: Callable[[str], None] | None = None,
    preloaded: Mapping[str, tuple[pd.DataFrame, list[StoredFile]]] | None = None,
    as_of: datetime | None = None,
) -> tuple[pd.DataFrame, TrainingSetManifest]:
    """Read only the partitions the entity times need, join point-in-time, and describe what was read.

    ``preloaded`` maps a view's qualified name to rows already read with ``offline.read`` over a window
    covering the entity times (so a view read to find the entity rows is not read twice).
    ``as_of`` reads the store as it was then (writes created after it are left out) and is recorded.
    """
    if EVENT_TIMESTAMP not in entities.columns:
        raise DataValidationError(f"entity frame has no {EVENT_TIMESTAMP!r} column")
    stamps = to_utc(entities[EVENT_TIMESTAMP], what=f"entity {EVENT_TIMESTAMP}")
    start, end = stamps.min().to_pydatetime(), stamps.max().to_pydatetime()
    frames: list[tuple[FeatureView, pd.DataFrame]] = []
    files: list[StoredFile] = []
    for view in views:
        if preloaded and view.qualified_name in preloaded:
            rows, used = preloaded[view.qualified_name]
        else:
            rows, used = offline.read(view, start=start, end=end, as_of=as_of)
        frames.append((view, rows))
        files.extend(used)
        if progress is not None:
            progress(view.qualified_name)
    result = point_in_time_join(entities, frames, strict=strict, full_feature_names=full_feature_names)
    manifest = training_set_manifest(
        views,
        files,
        entity_rows=len(entities),
        entity_sha256=frame_sha256(entities),
        strict=strict,
        output_sha256=frame_sha256(result),
    )
    if as_of is not None:
        manifest = replace(manifest, extra={**manifest.extra, "as_of": as_of.isoformat()})
    return result, manifest
