"""Point-in-time-correct training sets from the offline store, with their manifest (lineage)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import pandas as pd

from functions.feature_store import athena_join as sql
from functions.feature_store import offline_layout as layout
from functions.feature_store.athena import AthenaQueries, AthenaQueryError
from functions.feature_store.athena_join import ViewFiles
from functions.feature_store.definitions import EVENT_TIMESTAMP, FeatureView
from functions.feature_store.join_engine import JoinEngine
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


# -- the Athena path ---------------------------------------------------------------------------------------------
def committed_files(
    offline: OfflineStore, views: Sequence[FeatureView], *, start: datetime, end: datetime, as_of: datetime | None
) -> dict[str, ViewFiles]:
    """Per view (by qualified name), the committed files a join over entity times ``[start, end]`` can read."""
    planned = {}
    for view in views:
        first, last = layout.needed_months(view, start, end)
        planned[view.qualified_name] = ViewFiles(view, tuple(offline.files(view, first, last, as_of=as_of)))
    return planned


def athena_training_set(
    queries: AthenaQueries,
    planned: Mapping[str, ViewFiles],
    views: Sequence[FeatureView],
    *,
    entities: pd.DataFrame | None = None,
    label: ViewFiles | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    strict: bool = False,
    full_feature_names: bool = False,
    as_of: datetime | None = None,
) -> tuple[pd.DataFrame, TrainingSetManifest, list[str]]:
    """The point-in-time join run by Athena over ``planned`` (committed files only); also the query ids.

    The entity rows are ``entities`` (sent inline, in as many queries as Athena's query-length limit needs)
    or, when None, ``label``'s distinct events in ``[start, end]`` (the pandas path's ``entity_events``).
    The result is the pandas path's: entity rows in order with every view's features appended.
    """
    inputs = [planned[view.qualified_name] for view in views]
    read = [f.uri for view_files in (*inputs, *([label] if label else [])) for f in view_files.files]
    committed = sql.committed_files_relation(queries.database, queries.stage_files(read))
    if entities is not None:
        keys = list(dict.fromkeys(k for view in views for k in view.join_keys))
        missing = [k for k in keys if k not in entities.columns]
        if missing:
            raise DataValidationError(f"entity frame lacks join keys {missing} of feature views")
        lines = sql.entity_values(entities, keys)
        empty = sql.values_entities([], keys)
        fixed = len(sql.point_in_time_query(queries.database, empty, keys, inputs, committed=committed).encode())
        chunks = sql.chunks_within(lines, budget=sql.MAX_QUERY_BYTES - fixed - 1024) if lines else []
        relations = [sql.values_entities(chunk, keys) for chunk in chunks]
    else:
        if label is None:
            raise ValueError("athena_training_set needs entities or a label view's files")
        keys = list(label.view.join_keys)
        relations = [sql.event_entities(queries.database, label, start=start, end=end, committed=committed)]
    parts, query_ids, scanned = [], [], 0
    for relation in relations:
        query = sql.point_in_time_query(
            queries.database,
            relation,
            keys,
            inputs,
            strict=strict,
            full_feature_names=full_feature_names,
            committed=committed,
        )
        unloaded = queries.unload(query)
        parts.append(unloaded.frame)
        query_ids.append(unloaded.query_id)
        scanned += unloaded.scanned_bytes
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not rows.empty:
        rows = rows.sort_values(sql.ROW, kind="stable").reset_index(drop=True)
    features = [column for column in rows.columns if column not in (sql.ROW, *keys, EVENT_TIMESTAMP)]
    if entities is not None:
        result = entities.reset_index(drop=True).copy()
        result[EVENT_TIMESTAMP] = to_utc(result[EVENT_TIMESTAMP], what=f"entity {EVENT_TIMESTAMP}")
        if len(rows) != len(result):
            raise AthenaQueryError(f"Athena returned {len(rows)} rows for {len(result)} entity rows")
        for column in features:
            result[column] = rows[column].to_numpy()
    else:
        columns = [*keys, EVENT_TIMESTAMP, *features]
        result = rows[columns].copy() if not rows.empty else pd.DataFrame(columns=columns)
        if not result.empty:
            result[EVENT_TIMESTAMP] = to_utc(result[EVENT_TIMESTAMP], what=EVENT_TIMESTAMP)
    entity_frame = result[[*keys, EVENT_TIMESTAMP]]
    files = {f.uri: f for view_files in (*inputs, *([label] if label else [])) for f in view_files.files}
    manifest = training_set_manifest(
        views,
        list(files.values()),
        entity_rows=len(result),
        entity_sha256=frame_sha256(entity_frame),
        strict=strict,
        output_sha256=frame_sha256(result),
    )
    extra: dict[str, object] = {
        "engine": JoinEngine.ATHENA.value,
        "athena": {"workgroup": queries.workgroup, "query_ids": query_ids, "scanned_bytes": scanned},
    }
    if as_of is not None:
        extra["as_of"] = as_of.isoformat()
    return result, replace(manifest, extra={**manifest.extra, **extra}), query_ids
