"""Point-in-time-correct training sets (the semantics of Feast's ``get_historical_features``).

For every entity row (join keys + ``event_timestamp``) and every feature
view, take the view's row for the same keys with the latest
``event_timestamp <= entity timestamp``, provided it is within the view's
TTL (``entity ts - feature ts <= ttl``); ties on ``event_timestamp`` go to
the latest ``created_timestamp``. Strict mode additionally requires
``created_timestamp <= entity timestamp``: a row backfilled after the
prediction time was not available then and must not leak into training.
The output has exactly one row per entity row, in input order, with nulls
where no feature row qualifies.

Vectorized with ``pandas.merge_asof``. Strict mode cannot be a plain as-of
join on ``event_timestamp`` (a row may qualify by event time but be created
later), so every feature row gets an *availability* time,
``max(event, created)`` in strict mode and ``event`` otherwise. Rows are
sorted by availability per key, and a running maximum of the
(event, created) rank gives, for every prefix, the best row available so
far; one as-of join on availability then picks it. The cost is two sorts of
the feature rows (one without strict mode) and one of the entity rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP, FeatureView
from functions.shared.errors import DataValidationError

_ROW = "__row"
_KEY = "__key"
_AT = "__at"


def to_utc(values: pd.Series, *, what: str) -> pd.Series:
    """Timestamps as UTC; naive timestamps are taken to be UTC, mixed offsets are converted."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        converted = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        converted = values.dt.tz_localize("UTC")
    else:
        converted = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
        bad = converted.isna() & values.notna()
        if bad.any():
            example = values[bad].iloc[0]
            raise DataValidationError(f"{what}: {int(bad.sum())} values are not timestamps, e.g. {example!r}")
    if converted.isna().any():
        raise DataValidationError(f"{what}: {int(converted.isna().sum())} null timestamps")
    return converted.astype("datetime64[ns, UTC]")


def _key_codes(left: pd.DataFrame, right: pd.DataFrame, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """One int64 code per distinct key tuple, shared by both frames (the as-of join's ``by``).

    Both frames' keys are factorized together (one hash pass, no lookup of one side in the other's uniques).
    A null key matches nothing: null feature keys get -2, null entity keys -1.
    """
    n = len(left)
    combined = np.zeros(n + len(right), dtype=np.int64)
    null = np.zeros(n + len(right), dtype=bool)
    for key in keys:
        values = pd.concat([left[key].astype("string"), right[key].astype("string")], ignore_index=True)
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        null |= codes < 0
        combined = combined * (len(uniques) + 1) + (codes + 1) if len(keys) > 1 else codes.astype(np.int64)
    combined[:n][null[:n]] = -1
    combined[n:][null[n:]] = -2
    return combined[:n], combined[n:]


def _latest_available(view_frame: pd.DataFrame, codes: np.ndarray, *, strict: bool) -> pd.DataFrame:
    """Rows sorted by availability time, each with the best row of its key available by then."""
    event = view_frame[EVENT_TIMESTAMP].to_numpy(dtype="datetime64[ns]").view("int64")
    created = view_frame[CREATED_TIMESTAMP].to_numpy(dtype="datetime64[ns]").view("int64")
    # Rows by (event, created): later is better. Two stable sorts give lexsort's order in about 60% of its time.
    by_created = np.argsort(created, kind="stable")
    by_quality = by_created[np.argsort(event[by_created], kind="stable")]
    if not strict:
        # Availability is the event time itself: in this order the last row at or
        # before any time is already the best one, ties going to the latest created.
        order, best_row, available = by_quality, by_quality, event
    else:
        available = np.maximum(event, created)
        rank = np.empty(len(event), dtype=np.int64)
        rank[by_quality] = np.arange(len(event), dtype=np.int64)
        # In availability order, the running max of rank within a key is the
        # best row among those available up to each position.
        # (available, rank): ranks are distinct, so one stable sort of the rank order by availability.
        order = by_quality[np.argsort(available[by_quality], kind="stable")]
        best_rank = pd.Series(rank[order]).groupby(codes[order], sort=False).cummax().to_numpy()
        best_row = by_quality[best_rank]
    return pd.DataFrame({_KEY: codes[order], _AT: available[order].view("datetime64[ns]"), _ROW: best_row})


def feature_columns(view: FeatureView, taken: set[str], *, full_feature_names: bool) -> dict[str, str]:
    """Each feature's output column (``feature`` or ``view__feature``); a clash with ``taken`` is an error."""
    names = {f: f"{view.name}__{f}" if full_feature_names else f for f in view.feature_names}
    clash = sorted(set(names.values()) & taken)
    if clash:
        raise DataValidationError(
            f"feature names {clash} of {view.qualified_name} clash with earlier columns; use full_feature_names=True"
        )
    return names


def point_in_time_join(
    entities: pd.DataFrame,
    views: Sequence[tuple[FeatureView, pd.DataFrame]],
    *,
    strict: bool = False,
    full_feature_names: bool = False,
    timestamp_column: str = EVENT_TIMESTAMP,
) -> pd.DataFrame:
    """``entities`` with the point-in-time-correct features of every view appended.

    ``entities`` has the views' join keys and ``timestamp_column``; each
    view's frame has its join keys, ``event_timestamp``, ``created_timestamp``
    and features (as the offline store returns them). Features are named
    ``feature`` or, with ``full_feature_names``, ``view__feature``; a name
    clash between views is an error. Timestamps come back as UTC.
    """
    if timestamp_column not in entities.columns:
        raise DataValidationError(f"entity frame has no {timestamp_column!r} column")
    out = entities.reset_index(drop=True).copy()
    out[timestamp_column] = to_utc(out[timestamp_column], what=f"entity {timestamp_column}")
    entity_at = out[timestamp_column].to_numpy(dtype="datetime64[ns]")
    taken: set[str] = set(out.columns)
    checked: list[tuple[FeatureView, pd.DataFrame, dict[str, str]]] = []
    for view, frame in views:
        missing = [k for k in view.join_keys if k not in out.columns]
        if missing:
            raise DataValidationError(f"entity frame lacks join keys {missing} of feature view {view.qualified_name}")
        needed = [*view.join_keys, EVENT_TIMESTAMP, CREATED_TIMESTAMP, *view.feature_names]
        absent = [c for c in needed if c not in frame.columns]
        if absent:
            raise DataValidationError(f"feature rows of {view.qualified_name} lack columns {absent}")
        names = feature_columns(view, taken, full_feature_names=full_feature_names)
        taken.update(names.values())
        checked.append((view, frame[needed].reset_index(drop=True), names))

    def pick(view: FeatureView, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per entity row, the view row it gets (0 where none) and whether it gets one within the TTL."""
        rows[EVENT_TIMESTAMP] = to_utc(rows[EVENT_TIMESTAMP], what=f"{view.qualified_name} event_timestamp")
        rows[CREATED_TIMESTAMP] = to_utc(rows[CREATED_TIMESTAMP], what=f"{view.qualified_name} created_timestamp")
        left_codes, right_codes = _key_codes(out, rows, view.join_keys)
        left = pd.DataFrame({_KEY: left_codes, _AT: entity_at, "__entity": np.arange(len(out))})
        left = left.sort_values(_AT, kind="stable")
        right = _latest_available(rows, right_codes, strict=strict)
        joined = pd.merge_asof(left, right, on=_AT, by=_KEY, direction="backward", allow_exact_matches=True)
        picked = np.full(len(out), -1, dtype=np.int64)
        found = joined[_ROW].notna().to_numpy()
        picked[joined["__entity"].to_numpy()[found]] = joined[_ROW].to_numpy()[found].astype(np.int64)
        has_row = picked >= 0
        safe = np.where(has_row, picked, 0)
        feature_at = rows[EVENT_TIMESTAMP].to_numpy(dtype="datetime64[ns]")[safe] if len(rows) else entity_at
        fresh = has_row & ((entity_at - feature_at) <= np.timedelta64(int(view.ttl.total_seconds() * 1e9), "ns"))
        return safe, fresh

    # Views are independent: each is joined on its own thread (numpy's sorts, the hash factorization and the
    # as-of join release the GIL), so a set of several views uses every core the function has.
    workers = min(len(checked), os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            picks = list(pool.map(lambda item: pick(item[0], item[1]), checked))
    else:
        picks = [pick(view, rows) for view, rows, _ in checked]
    for (_, rows, names), (safe, fresh) in zip(checked, picks, strict=True):
        for feature, column in names.items():
            if rows.empty:
                out[column] = pd.Series(index=out.index, dtype=rows[feature].dtype)
                continue
            taken_values = rows[feature].take(safe).reset_index(drop=True)
            out[column] = taken_values.where(pd.Series(fresh), other=None)
    return out
