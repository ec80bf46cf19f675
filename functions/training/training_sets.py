"""Where training sets come from, and their manifests.

A ``TrainingSetSource`` turns a model spec into a table with the spec's
timestamp, feature and label columns, plus a description of where the rows
came from (recorded in the manifest). Two sources:

- ``FeatureStoreSource``: a point-in-time-correct join of the spec's feature
  views onto entity rows (an entity file, or the label view's own events in a
  time window); its description is the feature store's training-set manifest
  (views and transformation rules by version, every offline file by sha256).
  This is how the pipeline trains by default (P3, P4: the features a model
  saw are the features the store serves).
- ``RawTableSource``: a table (CSV or Parquet) in S3, for bringing a dataset
  that is not in the store yet; its description is the file's sha256.

``training_source(input)`` picks one from the training pipeline's input:
``{"feature_store": {"start", "end", "entities_uri", "as_of"}}`` or ``{"source_uri"}``.

A manifest is a small JSON document describing one training set: where its Parquet file is,
the file's sha256, the source, row count and the statistics later runs compare
against (drift). The manifest's own sha256 identifies the training set in the registry and the
lineage graph.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa

from functions.feature_store.athena import AthenaEngine, AthenaQueries
from functions.feature_store.athena import configured as configured_athena
from functions.feature_store.athena_join import ViewFiles
from functions.feature_store.definitions import EVENT_TIMESTAMP, FeatureView
from functions.feature_store.feedback import FEEDBACK_SOURCE, LABELLED_AT, PREDICTION_ID, ROW_SOURCE, STORE_SOURCE
from functions.feature_store.feedback import training_rows as feedback_training_rows
from functions.feature_store.join_engine import JoinEngine, join_engine
from functions.feature_store.manifest import StoredFile
from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.point_in_time import to_utc
from functions.feature_store.training_sets import (
    athena_training_set,
    build_training_set,
    committed_files,
    entity_events,
    within,
)
from functions.project.definition import Project
from functions.registry.artifact import sha256_hex
from functions.shared.errors import ArtifactIntegrityError, ConfigurationError, DataValidationError
from functions.shared.objects import ObjectStore, S3Uri
from functions.training.model_spec import ModelSpec


@dataclass(frozen=True)
class BuiltTrainingSet:
    """A training table and where its rows came from."""

    frame: pd.DataFrame
    origin: dict[str, Any]


class TrainingSetSource(Protocol):
    def build(self, spec: ModelSpec) -> BuiltTrainingSet: ...


def spec_columns(spec: ModelSpec) -> list[str]:
    return [spec.timestamp, *spec.feature_names, spec.label]


class RawTableSource:
    """A table as shipped: every row, the spec's columns (missing ones are left to validation)."""

    def __init__(self, objects: ObjectStore, source_uri: str) -> None:
        self._objects = objects
        self._uri = S3Uri.parse(source_uri)

    def build(self, spec: ModelSpec) -> BuiltTrainingSet:
        data = self._objects.get_bytes(self._uri)
        reader = pd.read_csv if self._uri.key.endswith(".csv") else pd.read_parquet
        frame = reader(io.BytesIO(data))
        frame = frame[[c for c in spec_columns(spec) if c in frame.columns]]
        return BuiltTrainingSet(
            frame, {"source": "table", "source_uri": str(self._uri), "source_sha256": sha256_hex(data)}
        )


class FeatureStoreSource:
    """The spec's feature views joined point-in-time onto entity rows, read from the offline store."""

    def __init__(
        self,
        offline: OfflineStore,
        objects: ObjectStore,
        *,
        project: Project,
        start: str | None = None,
        end: str | None = None,
        entities_uri: str | None = None,
        as_of: str | None = None,
        athena: AthenaQueries | None = None,
        athena_threshold_rows: int | None = None,
    ) -> None:
        self._offline, self._objects, self._project = offline, objects, project
        # Joins over at least this many committed feature rows run on Athena (``join_engine``).
        self._athena, self._threshold_rows = athena, athena_threshold_rows
        self._start, self._end = instant(start, "start"), instant(end, "end")
        # The store as it is now unless told otherwise, recorded so the set can be rebuilt exactly.
        self._as_of = instant(as_of, "as_of") or datetime.now(UTC)
        self._entities_uri = entities_uri

    def build(self, spec: ModelSpec) -> BuiltTrainingSet:
        inputs, window = spec.feature_store, spec.training_window
        views = [self._project.view_by_ref(ref) for ref in inputs.views]
        label_view = self._project.view_by_ref(inputs.label_view)
        # The input's own start wins; else the model's declared window, back from the run's end.
        start = self._start if self._start is not None else window.start(self._end or self._as_of)
        # An entity file is read and checked before anything else (a malformed one starts no query).
        entities = self._entity_file(label_view, start) if self._entities_uri is not None else None
        store_rows, manifest_doc, join = self._join(spec, views, label_view, start, entities)
        # Ground truth of served predictions: only when the examples are the store's own events (an entity
        # file names exactly the examples it wants).
        feedback, feedback_origin = (
            self._feedback(spec, start) if window.feedback and self._entities_uri is None else (None, None)
        )
        if store_rows is None and (feedback is None or feedback.empty):
            raise DataValidationError(
                f"no events of {label_view.qualified_name} in the offline store between "
                f"{_iso(start) or 'the beginning'} and {_iso(self._end) or 'now'}: ingest data first"
            )
        parts = [] if store_rows is None else [store_rows]
        if feedback is not None and not feedback.empty:
            parts.append(feedback)
        combined = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        for column in (PREDICTION_ID, LABELLED_AT):
            if column not in combined.columns:
                combined[column] = None
        if len(parts) > 1:
            # By time, store rows before feedback rows of the same instant: the same inputs, the same table and
            # hash. (Without feedback rows the join's order stands: entity rows in input order.)
            combined = combined.sort_values([spec.timestamp, ROW_SOURCE], key=_source_order, kind="stable")
            combined = combined.reset_index(drop=True)
        counts = combined[ROW_SOURCE].value_counts()
        origin = {
            "source": "feature_store",
            "window": {"start": _iso(start), "end": _iso(self._end), "declared": window.describe()},
            "as_of": _iso(self._as_of),
            "entities_uri": self._entities_uri,
            "feature_store": manifest_doc,
            "feedback": feedback_origin,
            "rows_by_source": {name: int(counts.get(name, 0)) for name in (STORE_SOURCE, FEEDBACK_SOURCE)},
            "join": join,
        }
        columns = [*spec_columns(spec), ROW_SOURCE, PREDICTION_ID, LABELLED_AT]
        return BuiltTrainingSet(combined[columns], origin)

    def _join(
        self,
        spec: ModelSpec,
        views: list[FeatureView],
        label_view: FeatureView,
        start: datetime | None,
        entities: pd.DataFrame | None,
    ) -> tuple[pd.DataFrame | None, dict[str, Any] | None, dict[str, Any]]:
        """The store's rows of the set (None: no entity rows), their manifest, and how they were joined.

        The engine follows ``join_engine``: the committed files' row counts (from their manifests) against
        the threshold; in pandas the entity rows are the label view's events unless an entity file names them.
        """
        strict = spec.feature_store.strict
        first = start or datetime(1970, 1, 1, tzinfo=UTC)
        last = self._end or datetime.now(UTC)
        if entities is not None:
            if entities.empty:
                return None, None, {"engine": JoinEngine.PANDAS.value, "feature_rows": 0}
            stamps = to_utc(entities[EVENT_TIMESTAMP], what=f"entity file {EVENT_TIMESTAMP}")
            first, last = stamps.min().to_pydatetime(), stamps.max().to_pydatetime()
        planned: dict[str, ViewFiles] = {}
        feature_rows: int | None = None
        if self._athena is not None and self._threshold_rows is not None:
            needed = views if entities is not None else [*views, label_view]
            planned = committed_files(
                self._offline,
                list({v.qualified_name: v for v in needed}.values()),
                start=first,
                end=last,
                as_of=self._as_of,
            )
            feature_rows = sum(files.rows for files in planned.values())
        engine = join_engine(feature_rows or 0, self._threshold_rows if self._athena is not None else None)
        join: dict[str, Any] = {
            "engine": engine.value,
            "feature_rows": feature_rows,
            "threshold_rows": self._threshold_rows,
        }
        if engine is JoinEngine.ATHENA:
            assert self._athena is not None
            joined, manifest, query_ids = athena_training_set(
                self._athena,
                planned,
                views,
                entities=entities,
                label=planned[label_view.qualified_name] if entities is None else None,
                start=start,
                end=self._end,
                strict=strict,
                as_of=self._as_of,
            )
            join["query_ids"] = query_ids
            if joined.empty:
                return None, None, join
        else:
            preloaded: dict[str, tuple[pd.DataFrame, list[StoredFile]]] = {}
            if entities is None:
                # The label view's rows over the window (TTL back from its start) give the entity rows and
                # are the join's input for that view: one read.
                rows, files = self._offline.read(label_view, start=first, end=last, as_of=self._as_of)
                preloaded[label_view.qualified_name] = (rows, files)
                entities = entity_events(rows, label_view, start=start, end=self._end)
            if entities.empty:
                return None, None, join
            joined, manifest = build_training_set(
                self._offline, entities, views, strict=strict, preloaded=preloaded, as_of=self._as_of
            )
        frame = joined.rename(columns={EVENT_TIMESTAMP: spec.timestamp})
        missing = [c for c in spec_columns(spec) if c not in frame.columns]
        if missing:
            names = ", ".join(v.qualified_name for v in views)
            raise ConfigurationError(
                f"feature views {names} provide no column(s) {missing} of model spec {spec.name!r}"
            )
        return frame[spec_columns(spec)].assign(**{ROW_SOURCE: STORE_SOURCE}), manifest.to_dict(), join

    def _feedback(self, spec: ModelSpec, start: datetime | None) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The model's labelled feedback rows captured in the window, the latest label of each prediction."""
        view = self._project.feedback_view(spec)
        last = self._end or self._as_of
        rows, files = self._offline.read(
            view, start=start or datetime(1970, 1, 1, tzinfo=UTC), end=last, as_of=self._as_of
        )
        if not rows.empty:
            rows = within(rows, start=start, end=last)
        table = feedback_training_rows(rows, features=spec.feature_names, label=spec.label, timestamp=spec.timestamp)
        origin = {
            "view": view.qualified_name,
            "rows": len(table),
            "files": [{"uri": f.uri, "sha256": f.sha256, "rows": f.rows} for f in files],
        }
        return table, origin

    def _entity_file(self, label_view: FeatureView, start: datetime | None) -> pd.DataFrame:
        assert self._entities_uri is not None
        try:
            entities = self._objects.get_parquet(S3Uri.parse(self._entities_uri))
        except (pa.ArrowException, OSError) as exc:
            raise DataValidationError(
                f"entity file {self._entities_uri} is not a readable Parquet file: {exc}"
            ) from exc
        needed = [*label_view.join_keys, EVENT_TIMESTAMP]
        missing = [c for c in needed if c not in entities.columns]
        if missing:
            raise DataValidationError(f"entity file {self._entities_uri} has no column(s) {missing}")
        to_utc(entities[EVENT_TIMESTAMP], what=f"entity file {self._entities_uri} {EVENT_TIMESTAMP}")
        return within(entities, start=start, end=self._end).reset_index(drop=True)


def training_source(
    request: dict[str, Any],
    *,
    objects: ObjectStore,
    offline: OfflineStore | None,
    project: Project,
    athena: AthenaEngine | None = None,
) -> TrainingSetSource:
    """The source a training pipeline input asks for, or an error naming what the input lacks.

    ``athena`` defaults to the one this function's environment configures (``athena.configured``): the same
    build step, on Lambda or on Batch, picks its join engine itself. ``options.athena_threshold_rows``
    in the input overrides the stage's threshold.
    """
    if "feature_store" in request:
        options = request["feature_store"] or {}
        if not isinstance(options, dict):
            raise DataValidationError(f"'feature_store' must be an object, got {type(options).__name__}")
        unknown = set(options) - {"start", "end", "entities_uri", "as_of"}
        if unknown:
            raise DataValidationError(f"'feature_store' has unknown option(s) {sorted(unknown)}")
        if offline is None:
            raise ConfigurationError("no feature store configured to read a training set from")
        engine = athena if athena is not None else configured_athena()
        threshold = athena_threshold_override(request.get("options"))
        if threshold is not None and engine is None:
            raise ConfigurationError("options.athena_threshold_rows is set, but this stage has no Athena workgroup")
        return FeatureStoreSource(
            offline,
            objects,
            project=project,
            **options,
            athena=engine.queries if engine is not None else None,
            athena_threshold_rows=threshold if threshold is not None else (engine.threshold_rows if engine else None),
        )
    if "source_uri" in request:
        return RawTableSource(objects, request["source_uri"])
    raise DataValidationError(
        "the training input needs 'feature_store' ({start, end, entities_uri, as_of}, all optional) "
        f"or 'source_uri' (a CSV or Parquet table in S3); got keys {sorted(request)}"
    )


def athena_threshold_override(options: Any) -> int | None:
    if not isinstance(options, dict) or options.get("athena_threshold_rows") is None:
        return None
    value = options["athena_threshold_rows"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataValidationError(f"options.athena_threshold_rows must be a positive integer, got {value!r}")
    return value


def _source_order(column: pd.Series) -> pd.Series:
    return column.map({STORE_SOURCE: 0, FEEDBACK_SOURCE: 1}) if column.name == ROW_SOURCE else column


def instant(value: str | None, what: str) -> datetime | None:
    """A training input's ``what`` time (start, end, as_of) as UTC, or a one-line error naming it."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"feature_store {what} {value!r} is not a time") from exc
    if pd.isna(stamp):
        raise DataValidationError(f"feature_store {what} {value!r} is not a time")
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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
