"""The online feature store on DynamoDB: latest values per entity and view version.

One table. Key: ``pk`` = the entity key (``customer_id=42``), ``sk`` =
``<view>#v<version>``, so views sharing an entity sit side by side and never
overwrite each other. Each item holds ``event_ts`` and ``created_ts`` (epoch
microseconds), ``features`` (a map) and ``expires_at`` (epoch seconds, the
table's TTL attribute, so DynamoDB reclaims storage). Because DynamoDB
deletes expired items lazily (up to days later), reads check the TTL
themselves: each entity comes back PRESENT, NOT_FOUND or EXPIRED.

Writes never replace newer data: for each group of up to 100 entities, one BatchGetItem reads
the items' ``(event_ts, created_ts)``, and only rows strictly newer than what is stored go out,
in BatchWriteItem calls of 25 (groups run on a few threads). BatchWriteItem has no conditions,
so the read-compare is correct only with one writer per item: rows of one call are reduced to one
per entity first, and materialization holds the view's lease (``materialization_lease``), so two
runs of one view never write at the same time. ``UnprocessedItems`` and ``UnprocessedKeys`` are
retried with exponential backoff and full jitter (a put of the same item is idempotent) until
every request is answered, or ``TransientStoreError`` names how many were left.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP, FeatureView, ValueType
from functions.feature_store.online import (
    OnlineFeatures,
    OnlineStatus,
    entity_key,
    freshness,
    select_features,
    view_sort_key,
)
from functions.shared.aws_errors import storage_error
from functions.shared.dynamo_items import from_item, to_item
from functions.shared.errors import TransientStoreError
from functions.shared.settings import ONLINE_TTL_ATTRIBUTE

if TYPE_CHECKING:
    import pandas as pd

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
TTL_ATTRIBUTE = ONLINE_TTL_ATTRIBUTE
WATERMARK_PK = "__materialization__"
LEASE_PK = "__materialization_lease__"
# Groups of BATCH_GET_LIMIT entities written at once by one write() (bounded parallelism).
WRITE_THREADS = 8


@dataclass(frozen=True)
class WriteCounts:
    written: int
    stale: int


def _micros(value: pd.Timestamp | datetime) -> int:
    import pandas as pd  # writes only: reads (the inference function) run without pandas

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1000)


def _plain(value: Any) -> Any:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


class OnlineStore:
    def __init__(
        self,
        dynamodb_client: Any,
        table_name: str,
        *,
        max_attempts: int = 8,
        base_delay_s: float = 0.05,
        max_delay_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        write_threads: int = WRITE_THREADS,
    ) -> None:
        self._ddb = dynamodb_client
        self.table = table_name
        self._max_attempts = max_attempts
        self._base_delay = base_delay_s
        self._max_delay = max_delay_s
        self._sleep = sleep
        self._clock = clock
        self._write_threads = write_threads

    def with_clock(self, clock: Callable[[], datetime]) -> OnlineStore:
        """The same store, judging TTL by ``clock`` (reads "as of" another time)."""
        return OnlineStore(
            self._ddb,
            self.table,
            max_attempts=self._max_attempts,
            base_delay_s=self._base_delay,
            max_delay_s=self._max_delay,
            sleep=self._sleep,
            clock=clock,
            write_threads=self._write_threads,
        )

    # -- writes -------------------------------------------------------------------
    def write(self, view: FeatureView, rows: pd.DataFrame) -> WriteCounts:
        """Store each entity's newest row unless its item already holds a row at least as new."""
        newest: dict[str, dict[str, Any]] = {}
        for record in rows.to_dict("records"):
            item = self._item(view, record)
            held = newest.get(item["pk"]["S"])
            if held is None or _version(held) < _version(item):
                newest[item["pk"]["S"]] = item
        items = list(newest.values())
        groups = [items[i : i + BATCH_GET_LIMIT] for i in range(0, len(items), BATCH_GET_LIMIT)]
        # Keys are unique across groups, so the groups' read-compare-writes never touch one item twice.
        with ThreadPoolExecutor(max_workers=max(1, min(self._write_threads, len(groups)))) as pool:
            written = sum(pool.map(lambda group: self._write_newer(view, group), groups))
        return WriteCounts(written=written, stale=len(rows) - written)

    def _item(self, view: FeatureView, record: Mapping[str, Any]) -> dict[str, Any]:
        event = _micros(record[EVENT_TIMESTAMP])
        features = {name: _plain(record[name]) for name in view.feature_names}
        return to_item(
            {
                "pk": entity_key(view, record),
                "sk": view_sort_key(view),
                "event_ts": event,
                "created_ts": _micros(record[CREATED_TIMESTAMP]),
                TTL_ATTRIBUTE: event // 1_000_000 + int(view.ttl.total_seconds()),
                "features": {k: v for k, v in features.items() if v is not None},
            }
        )

    def _write_newer(self, view: FeatureView, items: list[dict[str, Any]]) -> int:
        """Write the items newer than the stored ones (one BatchGetItem, BatchWriteItems of 25); how many."""
        stored = self._batch_get(
            [item["pk"]["S"] for item in items], view_sort_key(view), projection="pk, event_ts, created_ts"
        )
        newer = [
            item
            for item in items
            if item["pk"]["S"] not in stored
            or (int(stored[item["pk"]["S"]]["event_ts"]), int(stored[item["pk"]["S"]]["created_ts"])) < _version(item)
        ]
        for start in range(0, len(newer), BATCH_WRITE_LIMIT):
            self._batch_write(view, newer[start : start + BATCH_WRITE_LIMIT])
        return len(newer)

    def _batch_write(self, view: FeatureView, items: list[dict[str, Any]]) -> None:
        request: dict[str, Any] = {self.table: [{"PutRequest": {"Item": item}} for item in items]}
        attempt = 0
        while True:
            try:
                response = self._ddb.batch_write_item(RequestItems=request)
            except ClientError as exc:
                raise storage_error(exc, f"writing online features of {view.qualified_name}") from exc
            request = response.get("UnprocessedItems") or {}
            if not request:
                return
            attempt += 1
            if attempt >= self._max_attempts:
                left = len(request.get(self.table, []))
                raise TransientStoreError(
                    f"BatchWriteItem on {self.table}: {left} items of {view.qualified_name} still unprocessed "
                    f"after {attempt} attempts"
                )
            self._backoff(attempt)

    def _backoff(self, attempt: int) -> None:
        # Exponential backoff with full jitter (AWS architecture blog's recommendation).
        self._sleep(random.uniform(0, min(self._max_delay, self._base_delay * 2**attempt)))

    # -- reads --------------------------------------------------------------------
    def read(
        self,
        view: FeatureView,
        entities: Sequence[Mapping[str, Any]],
        *,
        features: Sequence[str] | None = None,
    ) -> list[OnlineFeatures]:
        """One result per entity, in order, with only the requested features."""
        wanted = select_features(view, features)
        keys = [entity_key(view, e) for e in entities]
        found = self._batch_get(list(dict.fromkeys(keys)), view_sort_key(view))
        now = self._clock()
        types = {f.name: f.dtype for f in view.schema}
        results = []
        for entity, key in zip(entities, keys, strict=True):
            shown = {k: str(entity[k]) for k in view.join_keys}
            item = found.get(key)
            if item is None:
                results.append(OnlineFeatures(shown, OnlineStatus.NOT_FOUND))
                continue
            event = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(item["event_ts"]))
            status = freshness(view, event, now)
            values = item.get("features", {}) if status is OnlineStatus.PRESENT else {}
            results.append(
                OnlineFeatures(
                    shown,
                    status,
                    event_timestamp=event,
                    features={n: _typed(values.get(n), types[n]) for n in wanted} if values else {},
                )
            )
        return results

    def _batch_get(self, keys: list[str], sort_key: str, *, projection: str | None = None) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            chunk = keys[start : start + BATCH_GET_LIMIT]
            request: dict[str, Any] = {self.table: {"Keys": [{"pk": {"S": k}, "sk": {"S": sort_key}} for k in chunk]}}
            if projection is not None:
                request[self.table]["ProjectionExpression"] = projection
            attempt = 0
            while request:
                try:
                    response = self._ddb.batch_get_item(RequestItems=request)
                except ClientError as exc:
                    raise storage_error(exc, f"reading online features from {self.table}") from exc
                for raw in response.get("Responses", {}).get(self.table, []):
                    item = from_item(raw)
                    found[item["pk"]] = item
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                attempt += 1
                if attempt >= self._max_attempts:
                    left = len(request.get(self.table, {}).get("Keys", []))
                    raise TransientStoreError(
                        f"BatchGetItem on {self.table}: {left} keys still unprocessed after {attempt} attempts"
                    )
                self._backoff(attempt)
        return found

    # -- materialization high-water mark and lease -------------------------------------
    def watermark(self, view: FeatureView) -> int:
        """The offline commit-log position materialized through (0 before the first)."""
        try:
            response = self._ddb.get_item(
                TableName=self.table,
                Key={"pk": {"S": WATERMARK_PK}, "sk": {"S": view_sort_key(view)}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise storage_error(exc, f"reading the materialization watermark of {view.qualified_name}") from exc
        item = from_item(response.get("Item") or {})
        # An item from before the commit log (a created time) counts as nothing materialized: replays are harmless.
        return int(item.get("position", 0))

    def advance_watermark(self, view: FeatureView, position: int) -> None:
        """Move the watermark forward (never back: a slower concurrent run cannot rewind it)."""
        try:
            self._ddb.put_item(
                TableName=self.table,
                Item=to_item({"pk": WATERMARK_PK, "sk": view_sort_key(view), "position": position}),
                ConditionExpression="attribute_not_exists(#p) OR #p < :new",
                ExpressionAttributeNames={"#p": "position"},
                ExpressionAttributeValues={":new": {"N": str(position)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return  # already at or past it
            raise storage_error(exc, f"advancing the watermark of {view.qualified_name}") from exc

    @contextmanager
    def materialization_lease(
        self, view: FeatureView, owner: str, *, hold: timedelta, wait: timedelta
    ) -> Iterator[Callable[[], None]]:
        """Hold the view's materialization lease while the block runs (``take_lease``); yields ``renew``."""
        renew = self.take_lease(view, owner, hold=hold, wait=wait)
        try:
            yield renew
        finally:
            self.release_lease(view, owner)

    def take_lease(self, view: FeatureView, owner: str, *, hold: timedelta, wait: timedelta) -> Callable[[], None]:
        """Take the view's materialization lease for ``owner`` (a run id); returns ``renew``.

        One run of a view materializes at a time (``write`` relies on it). A run finding the lease
        held polls with backoff for up to ``wait``, then raises ``TransientStoreError`` naming the
        holder (the state machine retries it). A lease lasts ``hold`` past its last renewal, so a
        run that died frees it; ``renew`` raises if another run took it meanwhile.
        """
        waited = timedelta(0)
        attempt = 0
        while (holder := self._take_lease(view, owner, hold)) is not None:
            if waited >= wait:
                raise TransientStoreError(
                    f"materialization of {view.qualified_name} is held by {holder}; "
                    f"waited {waited.total_seconds():.0f} s"
                )
            attempt += 1
            pause = min(self._max_delay * 4, self._base_delay * 2**attempt, (wait - waited).total_seconds())
            self._sleep(pause)
            waited += timedelta(seconds=pause)

        def renew() -> None:
            holder = self._take_lease(view, owner, hold)
            if holder is not None:
                raise TransientStoreError(f"the materialization lease of {view.qualified_name} was taken by {holder}")

        return renew

    def _take_lease(self, view: FeatureView, owner: str, hold: timedelta) -> str | None:
        """Take or renew the lease; ``None`` when held now, else who holds it and until when."""
        now = self._clock()
        until = int((now + hold).timestamp())
        try:
            self._ddb.put_item(
                TableName=self.table,
                Item=to_item(
                    {"pk": LEASE_PK, "sk": view_sort_key(view), "owner": owner, "until": until, TTL_ATTRIBUTE: until}
                ),
                ConditionExpression="attribute_not_exists(pk) OR #u < :now OR #o = :owner",
                ExpressionAttributeNames={"#u": "until", "#o": "owner"},
                ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}, ":owner": {"S": owner}},
            )
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise storage_error(exc, f"taking the materialization lease of {view.qualified_name}") from exc
        try:
            held = self._ddb.get_item(
                TableName=self.table, Key={"pk": {"S": LEASE_PK}, "sk": {"S": view_sort_key(view)}}, ConsistentRead=True
            )
        except ClientError as exc:
            raise storage_error(exc, f"reading the materialization lease of {view.qualified_name}") from exc
        item = from_item(held.get("Item") or {})
        held_until = datetime.fromtimestamp(int(item.get("until", 0)), UTC)
        return f"run {item.get('owner', '?')} until {held_until.isoformat()}"

    def release_lease(self, view: FeatureView, owner: str) -> None:
        """Give the lease back if ``owner`` still holds it (a lapsed one another run took is theirs)."""
        try:
            self._ddb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": LEASE_PK}, "sk": {"S": view_sort_key(view)}},
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            # Not ours any more (it lapsed and another run took it): theirs to release.
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise storage_error(exc, f"releasing the materialization lease of {view.qualified_name}") from exc


def _version(item: Mapping[str, Any]) -> tuple[int, int]:
    """An item's ``(event_ts, created_ts)`` (DynamoDB attribute values): later is newer."""
    return int(item["event_ts"]["N"]), int(item["created_ts"]["N"])


def _typed(value: Any, dtype: ValueType) -> Any:
    if value is None:
        return None
    if dtype is ValueType.FLOAT64:
        return float(value)
    if dtype is ValueType.INT64:
        return int(value)
    return value
