"""The online feature store on DynamoDB: latest values per entity and view version.

One table. Key: ``pk`` = the entity key (``customer_id=42``), ``sk`` =
``<view>#v<version>``, so views sharing an entity sit side by side and never
overwrite each other. Each item holds ``event_ts`` and ``created_ts`` (epoch
microseconds), ``features`` (a map) and ``expires_at`` (epoch seconds, the
table's TTL attribute, so DynamoDB reclaims storage). Because DynamoDB
deletes expired items lazily (up to days later), reads check the TTL
themselves: each entity comes back PRESENT, NOT_FOUND or EXPIRED.

Writes are conditional: an item is replaced only by a row with a later
``(event_ts, created_ts)``, so a late or replayed write of older data never
overwrites newer data. Reads use BatchGetItem in chunks of 100 and retry
``UnprocessedKeys`` with exponential backoff and full jitter until every key
is answered, or raise ``TransientStoreError`` naming how many were left.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
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
TTL_ATTRIBUTE = ONLINE_TTL_ATTRIBUTE
WATERMARK_PK = "__materialization__"

_NEWER = "attribute_not_exists(pk) OR event_ts < :event OR (event_ts = :event AND created_ts < :created)"


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
    ) -> None:
        self._ddb = dynamodb_client
        self.table = table_name
        self._max_attempts = max_attempts
        self._base_delay = base_delay_s
        self._max_delay = max_delay_s
        self._sleep = sleep
        self._clock = clock

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
        )

    # -- writes -------------------------------------------------------------------
    def write(self, view: FeatureView, rows: pd.DataFrame) -> WriteCounts:
        """Store each row unless the item already holds a row at least as new."""
        written = stale = 0
        ttl_s = int(view.ttl.total_seconds())
        for record in rows.to_dict("records"):
            event = _micros(record[EVENT_TIMESTAMP])
            created = _micros(record[CREATED_TIMESTAMP])
            features = {name: _plain(record[name]) for name in view.feature_names}
            item = to_item(
                {
                    "pk": entity_key(view, record),
                    "sk": view_sort_key(view),
                    "event_ts": event,
                    "created_ts": created,
                    TTL_ATTRIBUTE: event // 1_000_000 + ttl_s,
                    "features": {k: v for k, v in features.items() if v is not None},
                }
            )
            try:
                self._ddb.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression=_NEWER,
                    ExpressionAttributeValues={":event": {"N": str(event)}, ":created": {"N": str(created)}},
                )
                written += 1
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    stale += 1
                    continue
                raise storage_error(exc, f"writing online features of {view.qualified_name}") from exc
        return WriteCounts(written=written, stale=stale)

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

    def _batch_get(self, keys: list[str], sort_key: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            chunk = keys[start : start + BATCH_GET_LIMIT]
            request: dict[str, Any] = {self.table: {"Keys": [{"pk": {"S": k}, "sk": {"S": sort_key}} for k in chunk]}}
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
                # Exponential backoff with full jitter (AWS architecture blog's recommendation).
                self._sleep(random.uniform(0, min(self._max_delay, self._base_delay * 2**attempt)))
        return found

    # -- materialization high-water mark ------------------------------------------------
    def watermark(self, view: FeatureView) -> str | None:
        """``<created>#<write id>`` of the last offline write materialized (``None`` before the first)."""
        try:
            response = self._ddb.get_item(
                TableName=self.table,
                Key={"pk": {"S": WATERMARK_PK}, "sk": {"S": view_sort_key(view)}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise storage_error(exc, f"reading the materialization watermark of {view.qualified_name}") from exc
        item = response.get("Item")
        return None if item is None else str(from_item(item)["created_timestamp"])

    def advance_watermark(self, view: FeatureView, created_timestamp: str) -> None:
        """Move the watermark forward (never back: a slower concurrent run cannot rewind it)."""
        try:
            self._ddb.put_item(
                TableName=self.table,
                Item=to_item({"pk": WATERMARK_PK, "sk": view_sort_key(view), "created_timestamp": created_timestamp}),
                ConditionExpression="attribute_not_exists(pk) OR created_timestamp < :new",
                ExpressionAttributeValues={":new": {"S": created_timestamp}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return
            raise storage_error(exc, f"advancing the watermark of {view.qualified_name}") from exc


def _typed(value: Any, dtype: ValueType) -> Any:
    if value is None:
        return None
    if dtype is ValueType.FLOAT64:
        return float(value)
    if dtype is ValueType.INT64:
        return int(value)
    return value
