"""The offline feature store: Parquet files on S3, Hive-partitioned by event month, append-only.

A write puts one file per event month, then commits: its manifest (every file with its sha256)
takes the next position of the view's commit log (``commit_log``), then an ``ingested/`` marker
keyed by the source file's sha256 names that position. Reads go through the log, so files of a
write that failed half-way are never read into a training set, and ingesting the same source
file again finds the marker and stores nothing new. Reads take the compacted index (one GET)
plus the few positions after it; a write that leaves ``COMPACT_AFTER`` positions behind the
index compacts it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from functions.feature_store import offline_layout as layout
from functions.feature_store.commit_log import (
    EMPTY_INDEX,
    Commit,
    CompactedIndex,
    compacted,
    contiguous_after,
    first_per_write,
    position_of,
)
from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP, FeatureView
from functions.feature_store.manifest import StoredFile, WriteManifest, sha256_hex
from functions.shared.aws_errors import storage_error
from functions.shared.errors import ArtifactIntegrityError, TransientStoreError
from functions.shared.objects import ObjectStore

_IO_THREADS = 16
# Positions a write may leave after the index before it compacts the index (a read's extra GETs).
COMPACT_AFTER = 32
# A commit tries the next position when a concurrent write took one: at most this many.
_COMMIT_ATTEMPTS = 64
_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")


class OfflineStore:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # -- writes ---------------------------------------------------------------
    def write(
        self,
        view: FeatureView,
        rows: pd.DataFrame,
        *,
        source_uri: str,
        source_sha256: str,
        created: datetime,
        write_id: str,
    ) -> tuple[WriteManifest, bool]:
        """Append ``rows`` (keys, event_timestamp, features); ``(manifest, written)``.

        ``written`` is False when this source file was already ingested for
        this view version: the earlier write's manifest comes back instead.
        """
        earlier = self._ingested(view, source_sha256)
        if earlier is not None:
            return earlier, False
        stamped = layout.stamp_created(rows, created)
        created_iso = pd.Timestamp(stamped[CREATED_TIMESTAMP].iloc[0] if len(stamped) else created).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )

        def put_partition(numbered: tuple[int, tuple[str, bytes, int]]) -> StoredFile:
            part, (event_month, data, count) = numbered
            key = layout.partition_key(view, event_month, write_id, part)
            self._put(key, data, "application/vnd.apache.parquet")
            return StoredFile(self.uri(key), sha256_hex(data), count, event_month)

        with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
            files = list(pool.map(put_partition, enumerate(layout.parquet_partitions(view, stamped))))
        manifest = WriteManifest(
            write_id=write_id,
            view=view.name,
            version=view.version,
            transformation=str(view.transformation),
            source_uri=source_uri,
            source_sha256=source_sha256,
            created_timestamp=created_iso,
            files=tuple(files),
            rows=len(stamped),
        )
        position = self._commit(view, manifest)
        marker = json.dumps({"commit": layout.commit_key(view, position)}).encode()
        self._put(layout.ingested_key(view, source_sha256), marker, "application/json")
        return manifest, True

    def _commit(self, view: FeatureView, manifest: WriteManifest) -> int:
        """Append ``manifest`` at the next free position of the view's log (create-only); the position."""
        compacted_to = self._index_through(view)
        last = max([compacted_to, *(position_of(k) for k in self._log_keys(view, after=compacted_to))])
        if not last:
            # The view's first commit: writes of a store from before the commit log join it first, oldest first.
            for earlier in self._legacy(view):
                last = self._append(view, earlier, last + 1)
        position = self._append(view, manifest, last + 1)
        if position - compacted_to >= COMPACT_AFTER:
            self.compact(view)
        return position

    def _append(self, view: FeatureView, manifest: WriteManifest, position: int) -> int:
        """Put ``manifest`` at ``position``, or the first free one after it; the position taken."""
        for _ in range(_COMMIT_ATTEMPTS):
            body = json.dumps(Commit(position, manifest).to_dict()).encode()
            try:
                self._s3.put_object(
                    Bucket=self.bucket,
                    Key=layout.commit_key(view, position),
                    Body=body,
                    ContentType="application/json",
                    IfNoneMatch="*",
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _TAKEN:
                    position += 1  # a concurrent write committed there first
                    continue
                raise storage_error(exc, f"committing write {manifest.write_id} of {view.qualified_name}") from exc
            return position
        raise TransientStoreError(
            f"committing write {manifest.write_id} of {view.qualified_name}: "
            f"{_COMMIT_ATTEMPTS} log positions taken by concurrent writes in a row"
        )

    def compact(self, view: FeatureView) -> CompactedIndex:
        """Fold the log positions after the index into it (a concurrent compaction that wins is kept)."""
        index, etag = self._index(view)
        new = compacted(index, self._log_after(view, index.through))
        if new.through == index.through:
            return index
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=layout.index_key(view),
                Body=new.to_bytes(),
                ContentType="application/gzip",
                Metadata={"through": str(new.through)},
                **condition,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _TAKEN:
                return index  # another write compacted first; its index is at least as far
            raise storage_error(exc, f"compacting the offline index of {view.qualified_name}") from exc
        return new

    def write_quarantine(self, source: str, run_id: str, rows: pd.DataFrame, *, part: str | None = None) -> str:
        """Bad rows with their reasons, as Parquet (every column as text: the rows failed typing).

        A partitioned run writes one file per ``part`` under ``quarantine/<source>/<run_id>/``.
        """
        name = run_id if part is None else f"{run_id}/{part}"
        key = f"quarantine/{source}/{name}.parquet"
        text = rows.astype("string")
        buffer = io.BytesIO()
        text.to_parquet(buffer, index=False, engine="pyarrow")
        self._put(key, buffer.getvalue(), "application/vnd.apache.parquet")
        return self.uri(key)

    def delete(self, key: str) -> None:
        """Remove a scratch object (staging/); the feature files themselves are append-only."""
        if not key.startswith("staging/"):
            raise ValueError(f"only staging/ objects are deleted, not {key!r}")
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            raise storage_error(exc, f"deleting {self.uri(key)}") from exc

    def put_json(self, key: str, value: Any) -> str:
        self._put(key, json.dumps(value, indent=1, default=str).encode(), "application/json")
        return self.uri(key)

    def get_json(self, key: str) -> Any | None:
        """A small JSON document (a join's state), or ``None`` when there is none yet."""
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise storage_error(exc, f"reading {self.uri(key)}") from exc
        return json.loads(body)

    # -- reads ------------------------------------------------------------------
    def committed(self, view: FeatureView) -> list[Commit]:
        """Every committed write of ``view`` in commit order, each write id once.

        The compacted index (one GET) plus the positions after it (one LIST, and one GET each: fewer
        than ``COMPACT_AFTER`` while writes compact), however many writes the view has had.
        """
        index, _ = self._index(view)
        tail = self._log_after(view, index.through)
        return [*index.commits, *first_per_write(tail, seen=(c.manifest.write_id for c in index.commits))]

    def commits(self, view: FeatureView, *, after: int = 0) -> list[Commit]:
        """The committed writes at positions after ``after`` (a watermark), in order, up to the first gap."""
        return self._log_after(view, after)

    def manifests(self, view: FeatureView) -> list[WriteManifest]:
        """Manifests of the committed writes of ``view``, in commit order."""
        return [c.manifest for c in self.committed(view)]

    def files(
        self, view: FeatureView, start: str | None = None, end: str | None = None, *, as_of: datetime | None = None
    ) -> list[StoredFile]:
        """Files of committed writes whose event-month partition (``YYYY-MM``) is within ``[start, end]`` (pruning).

        With ``as_of``, only writes created at or before it: the store as it was then (the store is
        append-only, so a training set rebuilt with the same ``as_of`` reads the same files).
        """
        chosen = []
        for manifest in self.manifests(view):
            if as_of is not None and pd.Timestamp(manifest.created_timestamp) > pd.Timestamp(as_of):
                continue
            for stored in manifest.files:
                month = stored.event_month
                if (start is None or month >= start) and (end is None or month <= end):
                    chosen.append(stored)
        return chosen

    def read_file(self, stored: StoredFile) -> pd.DataFrame:
        return layout.from_parquet_bytes(self.fetch(stored))

    def read(
        self,
        view: FeatureView,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        as_of: datetime | None = None,
    ) -> tuple[pd.DataFrame, list[StoredFile]]:
        """Rows a point-in-time join over entity times ``[start, end]`` can need, and their files."""
        first, last = layout.needed_months(view, start, end) if start and end else (None, None)
        files = self.files(view, first, last, as_of=as_of)
        # A read can span many partitions and writes: fetch the files concurrently (boto3 clients are thread-safe),
        # and convert to pandas once, not per file.
        with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
            tables = list(pool.map(lambda stored: pq.read_table(io.BytesIO(self.fetch(stored))), files))
        columns = [f.name for f in view.stored_schema]
        if not tables:
            empty = layout.from_parquet_bytes(layout.to_parquet_bytes(view, pd.DataFrame(columns=columns)))
            return empty, files
        rows = pa.concat_tables(tables).to_pandas()
        # The same row stored twice (same keys, times and values) is one row.
        rows = rows.drop_duplicates(subset=[*view.join_keys, EVENT_TIMESTAMP, CREATED_TIMESTAMP], keep="last")
        return rows.reset_index(drop=True), files

    def iter_file_batches(self, stored: StoredFile, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """A file's rows in batches of at most ``batch_rows`` (bounded memory for materialization)."""
        return file_batches(self.fetch(stored), batch_rows)

    def fetch(self, stored: StoredFile) -> bytes:
        """A stored file's bytes, checked against the sha256 its manifest recorded."""
        data = self._get(stored.uri.removeprefix(f"s3://{self.bucket}/"))
        if sha256_hex(data) != stored.sha256:
            raise ArtifactIntegrityError(f"{stored.uri}: sha256 does not match its manifest")
        return data

    def fetch_ahead(self, files: Sequence[StoredFile], window: int = _IO_THREADS) -> Iterator[tuple[StoredFile, bytes]]:
        """Files in order, fetched ``window`` at a time concurrently (memory: at most ``window`` files)."""
        with ThreadPoolExecutor(max_workers=window) as pool:
            for start in range(0, len(files), window):
                group = files[start : start + window]
                yield from zip(group, pool.map(self.fetch, group), strict=True)

    # -- S3 ---------------------------------------------------------------------
    def _ingested(self, view: FeatureView, source_sha256: str) -> WriteManifest | None:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=layout.ingested_key(view, source_sha256))
            marker = json.loads(response["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise storage_error(exc, f"checking whether {source_sha256} was ingested") from exc
        if "commit" not in marker:  # written before the commit log: it names the write's own manifest
            return WriteManifest.from_dict(json.loads(self._get(marker["manifest"])))
        return Commit.from_dict(json.loads(self._get(marker["commit"]))).manifest

    def _index(self, view: FeatureView) -> tuple[CompactedIndex, str | None]:
        """The compacted index and its ETag (an empty index and ``None`` before the first compaction)."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=layout.index_key(view))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return EMPTY_INDEX, None
            raise storage_error(exc, f"reading the offline index of {view.qualified_name}") from exc
        return CompactedIndex.from_bytes(response["Body"].read()), str(response["ETag"])

    def _index_through(self, view: FeatureView) -> int:
        """The position the index is compacted to, from its metadata (no need to read it)."""
        try:
            response = self._s3.head_object(Bucket=self.bucket, Key=layout.index_key(view))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return 0
            raise storage_error(exc, f"reading the offline index of {view.qualified_name}") from exc
        return int(response.get("Metadata", {}).get("through", 0))

    def _log_keys(self, view: FeatureView, *, after: int) -> list[str]:
        prefix = layout.commits_prefix(view)
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, StartAfter=layout.commit_key(view, after)
            )
            return [entry["Key"] for page in pages for entry in page.get("Contents", [])]
        except ClientError as exc:
            raise storage_error(exc, f"listing {self.uri(prefix)}") from exc

    def _legacy(self, view: FeatureView) -> list[WriteManifest]:
        """Writes committed before the commit log (``manifests/<view>/v<n>/<write id>.json``), oldest first."""
        prefix = layout.manifests_prefix(view)
        keys = [k for k in ObjectStore(self._s3).keys(self.bucket, prefix) if "/" not in k.removeprefix(prefix)]
        found = [WriteManifest.from_dict(json.loads(self._get(k))) for k in keys if k.endswith(".json")]
        return sorted(found, key=lambda m: (m.created_timestamp, m.write_id))

    def _log_after(self, view: FeatureView, after: int) -> list[Commit]:
        by_position = {position_of(k): k for k in self._log_keys(view, after=after)}
        if not after and not by_position:
            # A store from before the commit log, not written since: its writes in the order the log will give them.
            return [Commit(n, m) for n, m in enumerate(self._legacy(view), start=1)]
        run = contiguous_after(after, by_position)
        with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
            bodies = list(pool.map(lambda p: self._get(by_position[p]), run))
        return [Commit.from_dict(json.loads(body)) for body in bodies]

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except ClientError as exc:
            raise storage_error(exc, f"writing {self.uri(key)}") from exc

    def _get(self, key: str) -> bytes:
        try:
            body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise storage_error(exc, f"reading {self.uri(key)}") from exc
        return body


def write_summary(view: FeatureView, manifest: WriteManifest, written: bool) -> dict[str, Any]:
    """What a run records of one offline write (``written`` False: the source was already ingested)."""
    return {
        "view": view.name,
        "version": view.version,
        "rows": manifest.rows,
        "written": written,
        "write_id": manifest.write_id,
        "files": len(manifest.files),
    }


def file_batches(data: bytes, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A Parquet file's rows as Arrow batches of at most ``batch_rows`` (converted to pandas by the caller, pooled)."""
    yield from pq.ParquetFile(io.BytesIO(data)).iter_batches(batch_size=batch_rows)
