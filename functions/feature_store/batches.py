"""A partitioned feature run's staged files, and its reconcile and per-partition write steps.

Everything a run stages lives under ``staging/<run_id>/`` of the offline bucket::

    valid/<partition id>.parquet        valid rows of a part (phase 1), with their source row
    partitions/<partition id>.json      what validating the part found (PartitionSummary)
    reconciled/<partition id>.parquet   a part's valid rows without cross-partition duplicates
    plan.json                           the partitions phase 2 transforms (the second Map's items)
    written/<partition id>.json         what phase 2 stored for a part

Pointers and counts travel through the state machine; rows stay in S3.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from functions.feature_store.definitions import FeatureView, RawSource
from functions.feature_store.manifest import sha256_hex
from functions.feature_store.offline_store import OfflineStore, write_summary
from functions.feature_store.partitions import (
    SOURCE_FILE,
    PartitionSummary,
    PlannedPartition,
    check_time_ordered,
    context_partitions,
    cross_partition_duplicates,
    partition_id,
    transform_with_context,
    valid_source_rows,
)
from functions.feature_store.validation import (
    REASON,
    ROW_NUMBER,
    check_bad_row_fraction,
    read_raw_table,
    validate_rows,
)
from functions.shared.errors import DataValidationError
from functions.shared.objects import ObjectStore, S3Uri

# A batch has many small staged files: fetch them concurrently (boto3 clients are thread-safe).
_IO_THREADS = 16


class BatchStaging:
    """The staged files of one partitioned run (``staging/<run_id>/`` of the offline bucket)."""

    def __init__(self, objects: ObjectStore, bucket: str, run_id: str) -> None:
        self._objects = objects
        self.bucket = bucket
        self.run_id = run_id
        self.prefix = f"staging/{run_id}/"

    def valid_uri(self, partition: str) -> S3Uri:
        return S3Uri(self.bucket, f"{self.prefix}valid/{partition}.parquet")

    def reconciled_uri(self, partition: str) -> S3Uri:
        return S3Uri(self.bucket, f"{self.prefix}reconciled/{partition}.parquet")

    @property
    def plan_uri(self) -> S3Uri:
        return S3Uri(self.bucket, f"{self.prefix}plan.json")

    def put_summary(self, summary: PartitionSummary) -> None:
        self._put_json(f"partitions/{summary.id}.json", summary.to_dict())

    def summaries(self) -> list[PartitionSummary]:
        """Every validated partition of the run, in batch order (by source object key)."""
        with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
            found = [PartitionSummary.from_dict(d) for d in pool.map(self._get_json, self._keys("partitions/"))]
        return sorted(found, key=lambda s: s.source_uri)

    def put_plan(self, plan: Sequence[PlannedPartition]) -> S3Uri:
        self._put_json("plan.json", [p.to_dict() for p in plan])
        return self.plan_uri

    def plan(self) -> list[PlannedPartition]:
        return [PlannedPartition.from_dict(p) for p in self._get_json(self.plan_uri.key)]

    def put_written(self, partition: str, writes: list[dict[str, Any]]) -> None:
        self._put_json(f"written/{partition}.json", {"partition": partition, "writes": writes})

    def written(self) -> list[dict[str, Any]]:
        with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
            return list(pool.map(self._get_json, self._keys("written/")))

    def _keys(self, folder: str) -> list[str]:
        return list(self._objects.keys(self.bucket, f"{self.prefix}{folder}"))

    def _put_json(self, name: str, value: Any) -> None:
        key = name if name.startswith(self.prefix) else f"{self.prefix}{name}"
        self._objects.put_bytes(S3Uri(self.bucket, key), json.dumps(value).encode(), content_type="application/json")

    def _get_json(self, key: str) -> Any:
        return json.loads(self._objects.get_bytes(S3Uri(self.bucket, key)))


def validate_partition(
    staging: BatchStaging,
    objects: ObjectStore,
    offline: OfflineStore,
    *,
    source: RawSource,
    source_uri: str,
    data: bytes,
) -> PartitionSummary:
    """Phase 1 for one part: validate it as a single file is validated, quarantine, stage; no store write."""
    part = partition_id(source_uri)
    result = validate_rows(read_raw_table(data, source_uri), source.schema, unique_keys=source.unique_keys)
    quarantine_uri = None
    if result.rows_quarantined:
        bad = result.quarantined.assign(**{SOURCE_FILE: source_uri})
        quarantine_uri = offline.write_quarantine(source.name, staging.run_id, bad, part=part)
    objects.put_parquet(staging.valid_uri(part), result.valid.assign(**{ROW_NUMBER: valid_source_rows(result)}))
    summary = PartitionSummary(
        id=part,
        source_uri=source_uri,
        source_sha256=sha256_hex(data),
        **result.counts(),
        staged_uri=str(staging.valid_uri(part)),
        quarantine_uri=quarantine_uri,
        reasons=result.reasons(),
    )
    staging.put_summary(summary)
    return summary


@dataclass(frozen=True)
class ReconciledBatch:
    counts: dict[str, int]
    reasons: dict[str, int]
    plan: list[PlannedPartition]
    duplicates: int


def reconcile_batch(
    staging: BatchStaging,
    objects: ObjectStore,
    offline: OfflineStore,
    *,
    source: RawSource,
    views: Sequence[FeatureView],
    source_prefix: str,
    max_bad_row_fraction: float,
) -> ReconciledBatch:
    """Sum the partitions' counts, quarantine keys repeated across partitions, enforce the batch's fraction.

    Reads only the key and timestamp columns of each partition (memory: key columns of the batch),
    and the full rows of a partition only when it holds a duplicate, one partition at a time. Writes
    nothing to the feature stores: the report and the quarantine, then the plan of phase 2.
    """
    summaries = staging.summaries()
    if not summaries:
        raise DataValidationError(f"no part files under {source_prefix} (names starting with '_' or '.' are skipped)")
    key_columns = list(dict.fromkeys([*source.unique_keys, source.timestamp_field]))
    with_rows = [s for s in summaries if s.rows_valid]
    with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
        keys = list(pool.map(lambda s: objects.get_parquet(S3Uri.parse(s.staged_uri), columns=key_columns), with_rows))
    repeats = cross_partition_duplicates(keys, source.unique_keys)
    plan, duplicates = [], 0
    for summary, key_frame, repeated in zip(with_rows, keys, repeats, strict=True):
        staged_uri = summary.staged_uri
        if len(repeated):
            moved = _split_duplicates(staging, objects, offline, source=source, summary=summary, repeated=repeated)
            staged_uri = str(moved)
            duplicates += len(repeated)
        kept = key_frame.drop(index=key_frame.index[repeated])
        if kept.empty:
            continue
        times = kept[source.timestamp_field]
        plan.append(
            PlannedPartition(
                id=summary.id,
                source_uri=summary.source_uri,
                source_sha256=summary.source_sha256,
                staged_uri=staged_uri,
                rows=len(kept),
                event_min=times.min().isoformat(),
                event_max=times.max().isoformat(),
            )
        )
    reasons: dict[str, int] = {}
    for summary in summaries:
        for kind, n in summary.reasons.items():
            reasons[kind] = reasons.get(kind, 0) + n
    if duplicates:
        reasons["duplicate"] = reasons.get("duplicate", 0) + duplicates
    rows_in = sum(s.rows_in for s in summaries)
    rows_quarantined = sum(s.rows_quarantined for s in summaries) + duplicates
    counts = {"rows_in": rows_in, "rows_valid": rows_in - rows_quarantined, "rows_quarantined": rows_quarantined}
    if sum(p.rows for p in plan) != counts["rows_valid"]:
        raise AssertionError("reconcile lost rows: the planned partitions do not hold every valid row")
    offline.put_json(
        f"quarantine/{source.name}/{staging.run_id}.json",
        {
            **counts,
            "reasons": reasons,
            "source_prefix": source_prefix,
            "quarantine_uri": offline.uri(f"quarantine/{source.name}/{staging.run_id}/") if rows_quarantined else None,
            "partitions": [{k: v for k, v in s.to_dict().items() if k not in ("id", "staged_uri")} for s in summaries],
            "cross_partition_duplicates": duplicates,
        },
    )
    # After the report and the quarantine, so a rejected batch still shows why; before any store write.
    check_bad_row_fraction(rows_in, rows_quarantined, reasons, max_bad_row_fraction)
    check_time_ordered(plan, [v for v in views if v.transformation.lookback > timedelta(0)])
    staging.put_plan(plan)
    return ReconciledBatch(counts=counts, reasons=reasons, plan=plan, duplicates=duplicates)


def _split_duplicates(
    staging: BatchStaging,
    objects: ObjectStore,
    offline: OfflineStore,
    *,
    source: RawSource,
    summary: PartitionSummary,
    repeated: Any,
) -> S3Uri:
    """Quarantine a partition's rows whose key an earlier partition holds; stage the rest anew.

    Reads the phase-1 file and writes a new one, so a retried reconcile finds the same duplicates.
    """
    rows = objects.get_parquet(S3Uri.parse(summary.staged_uri))
    mask = pd.Series(False, index=rows.index)
    mask.iloc[repeated] = True
    bad = rows[mask.to_numpy()].copy()
    bad[REASON] = f"duplicate: same {', '.join(source.unique_keys)} as a row of an earlier partition"
    bad[SOURCE_FILE] = summary.source_uri
    offline.write_quarantine(
        source.name,
        staging.run_id,
        bad[[ROW_NUMBER, *source.field_names, REASON, SOURCE_FILE]],
        part=f"{summary.id}-duplicates",
    )
    target = staging.reconciled_uri(summary.id)
    objects.put_parquet(target, rows[~mask.to_numpy()].reset_index(drop=True))
    return target


def write_partition(
    staging: BatchStaging,
    objects: ObjectStore,
    offline: OfflineStore,
    *,
    partition: PlannedPartition,
    views: Sequence[FeatureView],
    source: RawSource,
    created: datetime,
) -> list[dict[str, Any]]:
    """Transform one partition for every view (windowed ones with their context) and append it offline.

    A windowed view reads, as context, only the other partitions' rows within its rule's lookback
    before this partition (pyarrow filters): memory is bounded by the partition plus that lookback.
    """
    own = objects.get_parquet(S3Uri.parse(partition.staged_uri)).drop(columns=[ROW_NUMBER])
    plan = staging.plan() if any(v.transformation.lookback > timedelta(0) for v in views) else []
    contexts: dict[timedelta, pd.DataFrame] = {}
    writes = []
    for view in views:
        span = view.transformation.lookback
        if span not in contexts:
            contexts[span] = _context(objects, source, partition, plan, span)
        rows = transform_with_context(view, own, contexts[span], partition.start)
        manifest, written = offline.write(
            view,
            rows,
            source_uri=partition.source_uri,
            source_sha256=partition.source_sha256,
            created=created,
            write_id=f"{staging.run_id}-{partition.id}",
        )
        writes.append(write_summary(view, manifest, written))
    staging.put_written(partition.id, writes)
    return writes


def _context(
    objects: ObjectStore,
    source: RawSource,
    partition: PlannedPartition,
    plan: Sequence[PlannedPartition],
    span: timedelta,
) -> pd.DataFrame:
    if span <= timedelta(0):
        return pd.DataFrame()
    chosen, begin, end = context_partitions(partition, plan, span)
    field = source.timestamp_field
    frames = [
        objects.get_parquet(S3Uri.parse(p.staged_uri), filters=[(field, ">=", begin), (field, "<", end)])
        for p in chosen
    ]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).drop(columns=[ROW_NUMBER])


def summarize_writes(staging: BatchStaging, views: Sequence[FeatureView]) -> list[dict[str, Any]]:
    """Per view: rows stored, partitions newly written, partitions already ingested, files."""
    totals: dict[tuple[str, int], dict[str, Any]] = {
        (v.name, v.version): {"view": v.name, "version": v.version, "rows": 0, "written": 0, "skipped": 0, "files": 0}
        for v in views
    }
    for entry in staging.written():
        for write in entry["writes"]:
            total = totals[(write["view"], write["version"])]
            total["rows"] += write["rows"]
            total["files"] += write["files"]
            total["written" if write["written"] else "skipped"] += 1
    return list(totals.values())
