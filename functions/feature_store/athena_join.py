"""The point-in-time join as one SQL query over the offline store's Glue tables (pure: text in, text out).

The same semantics as ``point_in_time.point_in_time_join``: for every entity row and view, the view's
row with the same keys and the latest ``event_timestamp <= entity time``, ties going to the latest
``created_timestamp``, taken only within the TTL (``entity time - event time <= ttl``, inclusive); strict
mode also requires ``created_timestamp <= entity time``; a null or unknown key matches nothing. Picking the
best row among those inside the TTL is the same as picking the best row and then checking its TTL (the best
row has the latest event time), so the TTL is a join condition here.

The dialect is the subset Athena (Trino) and DuckDB share: ``WITH``, ``VALUES``, ``ROW_NUMBER() OVER``,
``TIMESTAMP '...'`` and ``INTERVAL 'n' SECOND`` literals, double-quoted identifiers. Athena must see only
committed writes: every view's rows are restricted to the files ``OfflineStore.files`` returned (their
``"$path"``, listed inline or, as the build does, staged as rows of the ``committed_files`` table so the
query's length does not grow with the writes) and to those files' months (``event_month``, the projected
partition: no listing of months that cannot match).

Entity rows are either an inline ``VALUES`` relation (an entity file, in chunks that keep every query under
Athena's query-length limit) or the label view's own distinct events in a window, numbered in the pandas
path's order (event time, then keys). Every query returns ``__row`` (the entity row's position), the
entity keys and time, and the features, ordered by ``__row``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP, FeatureView
from functions.feature_store.manifest import StoredFile
from functions.feature_store.offline_layout import PARTITION_COLUMN
from functions.feature_store.point_in_time import feature_columns, to_utc
from functions.shared.errors import DataValidationError

ROW = "__row"
_TS = "__ts"
_PATH = '"$path"'
# Athena refuses a query string longer than this (bytes): StartQueryExecution's QueryString limit.
MAX_QUERY_BYTES = 262_144
# The files a query may read are staged as rows of this Glue table (one Parquet file of paths per query, under
# ``<prefix>query=<token>/`` of the workgroup's results bucket; infra/constructs/athena.py declares it): the
# list of committed files grows with the writes, the query's text must not.
COMMITTED_FILES_TABLE = "committed_files"
COMMITTED_FILES_PARTITION = "query"
COMMITTED_FILES_PREFIX = "committed-files/"


def quote(identifier: str) -> str:
    """A double-quoted identifier (both dialects)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def timestamp_literal(moment: datetime | pd.Timestamp) -> str:
    """A UTC instant as a ``TIMESTAMP '...'`` literal with microseconds (Athena reads the files' times as UTC)."""
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_convert("UTC") if stamp.tzinfo else stamp
    return f"TIMESTAMP '{stamp.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def table_name(database: str, view: FeatureView) -> str:
    """The Glue table of ``view`` (infra/constructs/feature_store.py names it ``<view>_v<version>``)."""
    return f"{quote(database)}.{quote(f'{view.name}_v{view.version}')}"


@dataclass(frozen=True)
class ViewFiles:
    """One view's committed files a query may read, and the months (``YYYY-MM``) they lie in."""

    view: FeatureView
    files: tuple[StoredFile, ...]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def where(self, committed: str | None = None) -> str:
        """The filter that limits a scan to these files (and their months); false when there are none.

        ``committed``: a relation of the files' paths (``committed_files_relation``), for lists too long to
        write inline; else the paths are listed in the query.
        """
        if not self.files:
            return "FALSE"
        months = sorted({f.event_month for f in self.files})
        if committed is not None:
            paths = f'SELECT "path" FROM {committed}'
        else:
            paths = ", ".join(literal(f.uri) for f in sorted(self.files, key=lambda f: f.uri))
        return (
            f"{quote(PARTITION_COLUMN)} BETWEEN {literal(months[0])} AND {literal(months[-1])} AND {_PATH} IN ({paths})"
        )


def committed_files_relation(database: str, token: str) -> str:
    """The committed-files table's rows of one query (``COMMITTED_FILES_TABLE``, its ``query`` partition)."""
    return (
        f"{quote(database)}.{quote(COMMITTED_FILES_TABLE)} WHERE {quote(COMMITTED_FILES_PARTITION)} = {literal(token)}"
    )


def entity_values(entities: pd.DataFrame, keys: Sequence[str], *, first_row: int = 0) -> list[str]:
    """``entities`` (keys + ``event_timestamp``) as rows of a ``VALUES`` relation, numbered from ``first_row``.

    Keys are compared as text, as the offline store stores them; a null key stays null (it matches nothing).
    """
    stamps = to_utc(entities[EVENT_TIMESTAMP], what=f"entity {EVENT_TIMESTAMP}")
    columns = [entities[k].astype("string") for k in keys]
    lines = []
    for position, stamp in enumerate(stamps):
        values = [
            "CAST(NULL AS VARCHAR)" if pd.isna(column.iloc[position]) else literal(str(column.iloc[position]))
            for column in columns
        ]
        lines.append(f"({first_row + position}, {', '.join(values)}, {timestamp_literal(stamp)})")
    return lines


def values_entities(rows: Sequence[str], keys: Sequence[str]) -> str:
    """The ``entities`` relation from ``VALUES`` rows (see ``entity_values``)."""
    names = ", ".join([ROW, *(quote(k) for k in keys), _TS])
    body = ",\n    ".join(rows)
    return f"entities({names}) AS (\n  VALUES\n    {body}\n)"


def chunks_within(rows: Sequence[str], budget: int) -> list[list[str]]:
    """``rows`` split so that each chunk's text (joined) stays within ``budget`` bytes (at least one row each)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for row in rows:
        length = len(row.encode()) + 6
        if current and size + length > budget:
            chunks.append(current)
            current, size = [], 0
        current.append(row)
        size += length
    if current:
        chunks.append(current)
    return chunks


def event_entities(
    database: str,
    label: ViewFiles,
    *,
    start: datetime | None,
    end: datetime | None,
    committed: str | None = None,
) -> str:
    """The ``entities`` relation: the label view's distinct (keys, event time) in ``[start, end]``.

    Numbered by event time then keys, the order ``training_sets.entity_events`` gives the pandas path.
    """
    keys = [quote(k) for k in label.view.join_keys]
    bounds = [label.where(committed)]
    if start is not None:
        bounds.append(f"{quote(EVENT_TIMESTAMP)} >= {timestamp_literal(start)}")
    if end is not None:
        bounds.append(f"{quote(EVENT_TIMESTAMP)} <= {timestamp_literal(end)}")
    order = ", ".join([quote(EVENT_TIMESTAMP), *(f"{k} NULLS LAST" for k in keys)])
    return (
        f"entities AS (\n  SELECT ROW_NUMBER() OVER (ORDER BY {order}) - 1 AS {ROW}, {', '.join(keys)}, "
        f"{quote(EVENT_TIMESTAMP)} AS {_TS}\n"
        f"  FROM (SELECT DISTINCT {', '.join(keys)}, {quote(EVENT_TIMESTAMP)} FROM {table_name(database, label.view)}\n"
        f"        WHERE {' AND '.join(bounds)}) AS events\n)"
    )


def _ttl_seconds(view: FeatureView) -> int:
    seconds = view.ttl.total_seconds()
    if seconds != math.floor(seconds):
        raise DataValidationError(
            f"feature view {view.qualified_name}: the Athena join needs a TTL of whole seconds, got {view.ttl}"
        )
    return int(seconds)


def point_in_time_query(
    database: str,
    entities: str,
    entity_keys: Sequence[str],
    views: Sequence[ViewFiles],
    *,
    strict: bool = False,
    full_feature_names: bool = False,
    committed: str | None = None,
) -> str:
    """The SELECT joining every view point-in-time onto the ``entities`` relation (``values_entities`` or
    ``event_entities``). Output: ``__row``, the entity keys, ``event_timestamp``, then the features.
    ``committed``: see ``ViewFiles.where``."""
    taken = {ROW, *entity_keys, EVENT_TIMESTAMP}
    ctes = [entities]
    picks: list[str] = []
    joins: list[str] = []
    for index, files in enumerate(views):
        view = files.view
        missing = [k for k in view.join_keys if k not in entity_keys]
        if missing:
            raise DataValidationError(f"entity frame lacks join keys {missing} of feature view {view.qualified_name}")
        names = feature_columns(view, taken, full_feature_names=full_feature_names)
        taken.update(names.values())
        matched = " AND ".join(f"f.{quote(k)} = e.{quote(k)}" for k in view.join_keys)
        conditions = [
            matched,
            f"f.{quote(EVENT_TIMESTAMP)} <= e.{_TS}",
            f"f.{quote(EVENT_TIMESTAMP)} >= e.{_TS} - INTERVAL '{_ttl_seconds(view)}' SECOND",
        ]
        if strict:
            conditions.append(f"f.{quote(CREATED_TIMESTAMP)} <= e.{_TS}")
        features = ", ".join(f"f.{quote(feature)}" for feature in names)
        stored = ", ".join(quote(c) for c in [*view.join_keys, EVENT_TIMESTAMP, CREATED_TIMESTAMP, *names])
        ctes.append(
            f"v{index} AS (\n"
            f"  SELECT e.{ROW}, {features},\n"
            f"         ROW_NUMBER() OVER (PARTITION BY e.{ROW} ORDER BY f.{quote(EVENT_TIMESTAMP)} DESC, "
            f"f.{quote(CREATED_TIMESTAMP)} DESC, f.__file DESC) AS __rank\n"
            f"  FROM entities AS e\n"
            f"  JOIN (SELECT {stored}, {_PATH} AS __file FROM {table_name(database, view)}\n"
            f"        WHERE {files.where(committed)}) AS f\n"
            f"    ON {' AND '.join(conditions)}\n)"
        )
        picks.extend(f"v{index}.{quote(feature)} AS {quote(column)}" for feature, column in names.items())
        joins.append(f"LEFT JOIN v{index} ON v{index}.{ROW} = e.{ROW} AND v{index}.__rank = 1")
    head = ", ".join(
        [f"e.{ROW}", *(f"e.{quote(k)}" for k in entity_keys), f"e.{_TS} AS {quote(EVENT_TIMESTAMP)}", *picks]
    )
    body = ",\n".join(ctes)
    return f"WITH {body}\nSELECT {head}\nFROM entities AS e\n" + "\n".join(joins) + f"\nORDER BY e.{ROW}"


def unload(select: str, location: str) -> str:
    """``select``'s rows written as Parquet under ``location`` (an empty S3 prefix): Athena keeps the types."""
    return f"UNLOAD ({select})\nTO {literal(location)}\nWITH (format = 'PARQUET', compression = 'SNAPPY')"
