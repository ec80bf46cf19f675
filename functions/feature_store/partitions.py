"""A raw batch split into partition files: the pure rules of a partitioned feature run.

A batch is a folder of part files (``raw/feature-batches/<source>/<batch>/part-*.csv``).
Each part is validated on its own (phase 1), then the batch is reconciled as a
whole before anything reaches the stores: counts are summed, a unique key seen
in an earlier partition (batch order: by object key) makes the later row a
duplicate, exactly as a later row of one file would be, and the bad-row
fraction is enforced on the batch. Phase 2 transforms each partition; a
windowed rule gets, as context, the other partitions' rows in
``[partition start - lookback, partition start)`` and emits only its own rows,
so a partitioned run stores the same rows as one file with the same data.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from functions.feature_store.definitions import EVENT_TIMESTAMP, FeatureView
from functions.feature_store.transformations import apply_transformation
from functions.feature_store.validation import ROW_NUMBER, ValidationResult
from functions.shared.errors import DataValidationError

SOURCE_FILE = "source_file"


def is_partition_file(key: str) -> bool:
    """Part files are the batch's data; ``_SUCCESS``, ``_``/``.``-prefixed names and folders are not (Hadoop rule)."""
    name = key.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", "."))


def check_part_count(folder: str, parts: int, limit: int) -> None:
    """A batch holds at most ``limit`` part files (the state machine's timeout is sized for that many)."""
    if parts > limit:
        raise DataValidationError(
            f"batch {folder} has {parts} part files, more than the {limit} one run takes: split it into batches"
        )


def partition_id(key: str) -> str:
    """A short stable name for a partition's staged files (object keys may hold any character)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def valid_source_rows(result: ValidationResult) -> np.ndarray:
    """Row numbers (in the raw file) of the valid rows, in the order of ``result.valid``."""
    bad = result.quarantined[ROW_NUMBER].to_numpy(dtype="int64") if result.rows_quarantined else []
    return np.setdiff1d(np.arange(result.rows_in, dtype="int64"), bad)


@dataclass(frozen=True)
class PartitionSummary:
    """What validating one part file found, and where its valid rows are staged (a pointer, never rows)."""

    id: str
    source_uri: str
    source_sha256: str
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    staged_uri: str
    quarantine_uri: str | None
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionSummary:
        return cls(**data)


@dataclass(frozen=True)
class PlannedPartition:
    """A reconciled partition phase 2 transforms: its rows (duplicates removed) and their event-time span."""

    id: str
    source_uri: str
    source_sha256: str
    staged_uri: str
    rows: int
    event_min: str
    event_max: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedPartition:
        return cls(**data)

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.event_min)

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.event_max)


def cross_partition_duplicates(keys: Sequence[pd.DataFrame], unique_keys: Sequence[str]) -> list[np.ndarray]:
    """For each partition (in batch order), the positions of its rows whose key an earlier partition has.

    ``keys`` holds only the unique-key columns of each partition's valid rows, so memory is
    bounded by the key columns of the batch, not by its rows. Duplicates within a partition
    were already quarantined by its own validation.
    """
    if not keys or not unique_keys:
        return [np.array([], dtype="int64") for _ in keys]
    columns = list(unique_keys)
    stacked = pd.concat([frame[columns].reset_index(drop=True) for frame in keys], ignore_index=True)
    repeated = stacked.duplicated(subset=columns, keep="first").to_numpy()
    bounds = np.cumsum([0, *(len(frame) for frame in keys)])
    return [np.flatnonzero(repeated[start:stop]) for start, stop in itertools.pairwise(bounds)]


def check_time_ordered(partitions: Sequence[PlannedPartition], windowed: Sequence[FeatureView]) -> None:
    """A windowed view needs partitions split by event time: no two partitions' spans may meet."""
    if not windowed or len(partitions) < 2:
        return
    ordered = sorted(partitions, key=lambda p: (p.start, p.end))
    for before, after in itertools.pairwise(ordered):
        if after.start <= before.end:
            names = ", ".join(v.qualified_name for v in windowed)
            raise DataValidationError(
                f"partitions {before.source_uri} [{before.event_min} .. {before.event_max}] and "
                f"{after.source_uri} [{after.event_min} .. {after.event_max}] overlap in event time; "
                f"windowed views ({names}) need a batch split by event time (each part a distinct time range)"
            )


def context_partitions(
    partition: PlannedPartition, plan: Sequence[PlannedPartition], lookback: timedelta
) -> tuple[list[PlannedPartition], pd.Timestamp, pd.Timestamp]:
    """The other partitions holding rows in ``[start - lookback, start)``, and that span."""
    begin, end = partition.start - lookback, partition.start
    chosen = [p for p in plan if p.id != partition.id and p.start < end and p.end >= begin]
    return chosen, begin, end


def transform_with_context(
    view: FeatureView, own: pd.DataFrame, context: pd.DataFrame, start: pd.Timestamp
) -> pd.DataFrame:
    """The view's rule on a partition plus its context rows; only the partition's own rows come out.

    Context rows all precede ``start``, the partition's first event time, and a windowed rule
    keeps the raw timestamp as ``event_timestamp``: own rows are those at or after ``start``.
    """
    if context.empty:
        return apply_transformation(view, own)
    rows = apply_transformation(view, pd.concat([context, own], ignore_index=True))
    return rows[rows[EVENT_TIMESTAMP] >= start].reset_index(drop=True)
