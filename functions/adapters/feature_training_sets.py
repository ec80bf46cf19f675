"""Point-in-time-correct training sets from the offline store, with their manifest (lineage)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence

import pandas as pd

from functions.adapters.offline_store import OfflineStore
from functions.core.errors import DataValidationError
from functions.core.features.definitions import EVENT_TIMESTAMP, FeatureView
from functions.core.features.manifest import StoredFile, TrainingSetManifest, training_set_manifest
from functions.core.features.point_in_time import point_in_time_join, to_utc


def frame_sha256(frame: pd.DataFrame) -> str:
    """sha256 of a frame's Parquet bytes (what a training run stores)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, engine="pyarrow")
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def build_training_set(
    offline: OfflineStore,
    entities: pd.DataFrame,
    views: Sequence[FeatureView],
    *,
    strict: bool = False,
    full_feature_names: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, TrainingSetManifest]:
    """Read only the partitions the entity times need, join point-in-time, and describe what was read."""
    if EVENT_TIMESTAMP not in entities.columns:
        raise DataValidationError(f"entity frame has no {EVENT_TIMESTAMP!r} column")
    stamps = to_utc(entities[EVENT_TIMESTAMP], what=f"entity {EVENT_TIMESTAMP}")
    start, end = stamps.min().to_pydatetime(), stamps.max().to_pydatetime()
    frames: list[tuple[FeatureView, pd.DataFrame]] = []
    files: list[StoredFile] = []
    for view in views:
        rows, used = offline.read(view, start=start, end=end)
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
    return result, manifest
