"""Online store semantics that do not depend on DynamoDB: keys, freshness, chunk reduction."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP, FeatureView
from functions.shared.errors import DataValidationError

if TYPE_CHECKING:
    import pandas as pd


class OnlineStatus(StrEnum):
    PRESENT = "PRESENT"
    NOT_FOUND = "NOT_FOUND"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class OnlineFeatures:
    """What an online read returns for one entity of one view."""

    entity_key: dict[str, str]
    status: OnlineStatus
    event_timestamp: datetime | None = None
    features: dict[str, Any] = field(default_factory=dict)


# The key's separators and the escape character itself, percent-encoded inside names and values.
_ESCAPES = {"%": "%25", "|": "%7C", "=": "%3D"}
_ESCAPED = re.compile("|".join(re.escape(c) for c in _ESCAPES))
_UNESCAPED = re.compile("|".join(_ESCAPES.values()))
_UNESCAPES = {code: char for char, code in _ESCAPES.items()}


def _escape(text: str) -> str:
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group(0)], text)


def entity_key(view: FeatureView, values: Mapping[str, Any]) -> str:
    """The partition key of an entity: ``key=value`` pairs in the view's join-key order, ``|``-separated.

    ``%``, ``|`` and ``=`` inside a name or value are percent-encoded (``%25``, ``%7C``, ``%3D``), so the
    encoding is injective: ``a="x|b=y", b="z"`` and ``a="x", b="y|b=z"`` are two keys. A key without
    those characters reads as before (``station_id=s1``).
    """
    missing = [k for k in view.join_keys if k not in values]
    if missing:
        raise DataValidationError(f"entity of {view.qualified_name} lacks join keys {missing}")
    return "|".join(f"{_escape(k)}={_escape(str(values[k]))}" for k in view.join_keys)


def parse_entity_key(key: str) -> dict[str, str]:
    """The join keys and values ``entity_key`` encoded (its inverse)."""
    pairs = {}
    for pair in key.split("|"):
        name, sep, value = pair.partition("=")
        if not sep:
            raise DataValidationError(f"not an entity key: {key!r}")
        pairs[_unescape(name)] = _unescape(value)
    return pairs


def _unescape(text: str) -> str:
    return _UNESCAPED.sub(lambda m: _UNESCAPES[m.group(0)], text)


def shard_of(key: str, shards: int) -> int:
    """The shard (``0 .. shards-1``) an entity key falls in: the same in every process (crc32, not ``hash``)."""
    return zlib.crc32(key.encode()) % shards


def view_sort_key(view: FeatureView) -> str:
    """The sort key: views sharing an entity live side by side and never overwrite each other."""
    return f"{view.name}#v{view.version}"


def freshness(view: FeatureView, event_timestamp: datetime, now: datetime) -> OnlineStatus:
    """PRESENT while ``now - event_timestamp <= ttl``, EXPIRED after (DynamoDB deletes lazily)."""
    return OnlineStatus.PRESENT if now - event_timestamp <= view.ttl else OnlineStatus.EXPIRED


def latest_per_entity(view: FeatureView, rows: pd.DataFrame) -> pd.DataFrame:
    """Per entity, the row with the latest (event_timestamp, created_timestamp)."""
    ordered = rows.sort_values([*view.join_keys, EVENT_TIMESTAMP, CREATED_TIMESTAMP], kind="stable")
    return ordered.drop_duplicates(subset=list(view.join_keys), keep="last").reset_index(drop=True)


def select_features(view: FeatureView, requested: Sequence[str] | None) -> list[str]:
    """The requested feature names, checked against the view (all when ``None``)."""
    if requested is None:
        return view.feature_names
    unknown = sorted(set(requested) - set(view.feature_names))
    if unknown:
        raise DataValidationError(f"{view.qualified_name} has no features {unknown}")
    return list(requested)
