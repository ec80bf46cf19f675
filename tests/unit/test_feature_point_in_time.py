"""Point-in-time joins: the documented get_historical_features semantics, edge case by edge case."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from functions.feature_store.definitions import Entity, FeatureView, Field, Transformation, ValueType
from functions.feature_store.point_in_time import point_in_time_join
from functions.shared.errors import DataValidationError

USER = Entity("user", join_keys=("user_id",))
SHOP = Entity("shop", join_keys=("shop_id",))


def view(
    name: str = "spend",
    *,
    ttl: timedelta = timedelta(days=1),
    entities: tuple[Entity, ...] = (USER,),
    features: tuple[str, ...] = ("amount",),
) -> FeatureView:
    return FeatureView(
        name=name,
        version=1,
        entities=entities,
        schema=tuple(Field(f, ValueType.FLOAT64) for f in features),
        ttl=ttl,
        source="test",
        transformation=Transformation("identity", 1, lambda raw: raw),
    )


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def rows(*records: tuple[str, str, str, float], key: str = "user_id", feature: str = "amount") -> pd.DataFrame:
    """(key, event_timestamp, created_timestamp, value) records as an offline frame."""
    return pd.DataFrame(
        {
            key: [r[0] for r in records],
            "event_timestamp": [ts(r[1]) for r in records],
            "created_timestamp": [ts(r[2]) for r in records],
            feature: [r[3] for r in records],
        }
    )


def entities(*records: tuple[str, str], key: str = "user_id") -> pd.DataFrame:
    return pd.DataFrame({key: [r[0] for r in records], "event_timestamp": [r[1] for r in records]})


def amounts(frame: pd.DataFrame, column: str = "amount") -> list[float | None]:
    return [None if pd.isna(v) else float(v) for v in frame[column]]


def test_latest_row_at_or_before_the_entity_time_is_joined() -> None:
    features = rows(
        ("u1", "2024-01-01T00:00", "2024-01-01T00:00", 1.0),
        ("u1", "2024-01-01T06:00", "2024-01-01T06:00", 2.0),
        ("u1", "2024-01-01T12:00", "2024-01-01T12:00", 3.0),
    )
    result = point_in_time_join(
        entities(("u1", "2024-01-01T06:00Z"), ("u1", "2024-01-01T11:59Z")), [(view(), features)]
    )
    assert amounts(result) == [2.0, 2.0]


def test_a_feature_row_after_the_entity_time_never_leaks() -> None:
    features = rows(("u1", "2024-01-02", "2024-01-02", 9.0))
    result = point_in_time_join(entities(("u1", "2024-01-01T23:59:59Z")), [(view(), features)])
    assert amounts(result) == [None]


def test_ties_on_event_time_go_to_the_latest_created_row_whatever_the_input_order() -> None:
    early, late = ("u1", "2024-01-01", "2024-01-01T01:00", 1.0), ("u1", "2024-01-01", "2024-01-01T02:00", 2.0)
    for features in (rows(early, late), rows(late, early)):
        result = point_in_time_join(entities(("u1", "2024-01-01T12:00Z")), [(view(), features)])
        assert amounts(result) == [2.0]


def test_ttl_boundary_is_inclusive_and_older_rows_give_nulls_not_dropped_rows() -> None:
    features = rows(("u1", "2024-01-01", "2024-01-01", 1.0))
    given = entities(("u1", "2024-01-02T00:00:00Z"), ("u1", "2024-01-02T00:00:01Z"), ("u1", "2024-01-05T00:00Z"))
    result = point_in_time_join(given, [(view(ttl=timedelta(days=1)), features)])
    assert len(result) == 3
    assert amounts(result) == [1.0, None, None]


def test_an_expired_latest_row_does_not_fall_back_to_an_older_one() -> None:
    features = rows(("u1", "2024-01-01", "2024-01-01", 1.0), ("u1", "2024-01-03", "2024-01-03", 3.0))
    result = point_in_time_join(entities(("u1", "2024-01-03T12:00Z")), [(view(ttl=timedelta(hours=6)), features)])
    assert amounts(result) == [None]


def test_missing_entities_get_nulls_and_output_keeps_input_order_and_length() -> None:
    features = rows(("u1", "2024-01-01", "2024-01-01", 1.0), ("u2", "2024-01-01", "2024-01-01", 2.0))
    given = entities(
        ("u3", "2024-01-01T05:00Z"),
        ("u2", "2024-01-01T04:00Z"),
        ("u1", "2024-01-01T01:00Z"),
        ("u2", "2023-12-31T00:00Z"),
    )
    given.index = [10, 7, 3, 99]
    result = point_in_time_join(given, [(view(), features)])
    assert list(result["user_id"]) == ["u3", "u2", "u1", "u2"]
    assert amounts(result) == [None, 2.0, 1.0, None]


def test_duplicate_entity_rows_each_get_one_output_row() -> None:
    features = rows(("u1", "2024-01-01", "2024-01-01", 1.0))
    given = entities(("u1", "2024-01-01T01:00Z"), ("u1", "2024-01-01T01:00Z"))
    assert amounts(point_in_time_join(given, [(view(), features)])) == [1.0, 1.0]


def test_several_views_on_the_same_entity_are_joined_independently() -> None:
    spend = rows(("u1", "2024-01-01T00:00", "2024-01-01T00:00", 1.0))
    clicks = rows(("u1", "2024-01-01T02:00", "2024-01-01T02:00", 7.0), feature="clicks")
    given = entities(("u1", "2024-01-01T01:00Z"), ("u1", "2024-01-01T03:00Z"))
    result = point_in_time_join(
        given,
        [(view("spend"), spend), (view("clicks", features=("clicks",), ttl=timedelta(hours=2)), clicks)],
    )
    assert amounts(result) == [1.0, 1.0]
    assert amounts(result, "clicks") == [None, 7.0]


def test_clashing_feature_names_need_full_feature_names() -> None:
    a, b = rows(("u1", "2024-01-01", "2024-01-01", 1.0)), rows(("u1", "2024-01-01", "2024-01-01", 2.0))
    given = entities(("u1", "2024-01-01T01:00Z"))
    with pytest.raises(DataValidationError, match="clash"):
        point_in_time_join(given, [(view("a"), a), (view("b"), b)])
    result = point_in_time_join(given, [(view("a"), a), (view("b"), b)], full_feature_names=True)
    assert amounts(result, "a__amount") == [1.0]
    assert amounts(result, "b__amount") == [2.0]


def test_views_of_different_entities_join_on_their_own_keys() -> None:
    spend = rows(("u1", "2024-01-01", "2024-01-01", 1.0))
    stock = rows(("s9", "2024-01-01", "2024-01-01", 5.0), key="shop_id", feature="stock")
    given = pd.DataFrame(
        {"user_id": ["u1", "u2"], "shop_id": ["s9", "s9"], "event_timestamp": ["2024-01-01T01:00Z"] * 2}
    )
    result = point_in_time_join(given, [(view(), spend), (view("stock", entities=(SHOP,), features=("stock",)), stock)])
    assert amounts(result) == [1.0, None]
    assert amounts(result, "stock") == [5.0, 5.0]


def test_composite_join_keys_match_on_every_key() -> None:
    both = view("pair", entities=(USER, SHOP))
    features = pd.DataFrame(
        {
            "user_id": ["u1", "u1"],
            "shop_id": ["s1", "s2"],
            "event_timestamp": [ts("2024-01-01")] * 2,
            "created_timestamp": [ts("2024-01-01")] * 2,
            "amount": [1.0, 2.0],
        }
    )
    given = pd.DataFrame(
        {"user_id": ["u1", "u1", "u2"], "shop_id": ["s2", "s1", "s1"], "event_timestamp": ["2024-01-01T01:00Z"] * 3}
    )
    assert amounts(point_in_time_join(given, [(both, features)])) == [2.0, 1.0, None]


def test_mixed_time_zones_are_compared_in_utc() -> None:
    features = rows(("u1", "2024-01-01T10:00", "2024-01-01T10:00", 1.0))
    # 11:00+02:00 is 09:00Z (before the row); 05:30-05:00 is 10:30Z (after it).
    given = entities(("u1", "2024-01-01T11:00:00+02:00"), ("u1", "2024-01-01T05:30:00-05:00"))
    result = point_in_time_join(given, [(view(), features)])
    assert amounts(result) == [None, 1.0]
    assert list(result["event_timestamp"]) == [ts("2024-01-01T09:00"), ts("2024-01-01T10:30")]


def test_naive_entity_timestamps_are_taken_as_utc_and_feature_zones_are_converted() -> None:
    features = rows(("u1", "2024-01-01T10:00", "2024-01-01T10:00", 1.0))
    features["event_timestamp"] = features["event_timestamp"].dt.tz_convert("Asia/Tokyo")
    given = pd.DataFrame(
        {"user_id": ["u1", "u1"], "event_timestamp": pd.to_datetime(["2024-01-01 09:59", "2024-01-01 10:00"])}
    )
    assert amounts(point_in_time_join(given, [(view(), features)])) == [None, 1.0]


def test_strict_mode_ignores_rows_created_after_the_entity_time() -> None:
    # The 02:00 value was backfilled at 10:00; at 05:00 only the 01:00 value existed.
    features = rows(
        ("u1", "2024-01-01T01:00", "2024-01-01T01:00", 1.0), ("u1", "2024-01-01T02:00", "2024-01-01T10:00", 2.0)
    )
    given = entities(("u1", "2024-01-01T05:00Z"), ("u1", "2024-01-01T11:00Z"))
    assert amounts(point_in_time_join(given, [(view(), features)])) == [2.0, 2.0]
    assert amounts(point_in_time_join(given, [(view(), features)], strict=True)) == [1.0, 2.0]


def test_strict_mode_prefers_the_latest_event_not_the_latest_created() -> None:
    # A late backfill of an old event must not beat a newer event that was available.
    features = rows(
        ("u1", "2024-01-01T08:00", "2024-01-01T08:00", 8.0), ("u1", "2024-01-01T03:00", "2024-01-01T09:00", 3.0)
    )
    result = point_in_time_join(entities(("u1", "2024-01-01T10:00Z")), [(view(), features)], strict=True)
    assert amounts(result) == [8.0]


def test_strict_mode_with_every_candidate_created_later_gives_nulls() -> None:
    features = rows(("u1", "2024-01-01T01:00", "2024-01-02T00:00", 1.0))
    result = point_in_time_join(entities(("u1", "2024-01-01T05:00Z")), [(view(), features)], strict=True)
    assert amounts(result) == [None]


def test_no_feature_rows_at_all_gives_all_nulls() -> None:
    empty = rows(("u1", "2024-01-01", "2024-01-01", 1.0)).iloc[0:0]
    result = point_in_time_join(entities(("u1", "2024-01-01T00:00Z"), ("u2", "2024-01-02T00:00Z")), [(view(), empty)])
    assert amounts(result) == [None, None]


def test_missing_join_key_or_timestamp_is_a_clear_error() -> None:
    features = rows(("u1", "2024-01-01", "2024-01-01", 1.0))
    with pytest.raises(DataValidationError, match="join keys"):
        point_in_time_join(pd.DataFrame({"event_timestamp": ["2024-01-01T00:00Z"]}), [(view(), features)])
    with pytest.raises(DataValidationError, match="not timestamps"):
        point_in_time_join(entities(("u1", "yesterday")), [(view(), features)])


def test_matches_a_brute_force_reference_on_random_data() -> None:
    rng = np.random.default_rng(7)
    base = pd.Timestamp("2024-01-01", tz="UTC")
    n_features, n_entities = 400, 300
    features = pd.DataFrame(
        {
            "user_id": rng.choice(["a", "b", "c", "d"], n_features),
            "event_timestamp": base + pd.to_timedelta(rng.integers(0, 48, n_features), unit="h"),
            "amount": rng.normal(size=n_features),
        }
    )
    features["created_timestamp"] = features["event_timestamp"] + pd.to_timedelta(
        rng.integers(0, 12, n_features), unit="h"
    )
    given = pd.DataFrame(
        {
            "user_id": rng.choice(["a", "b", "c", "d", "e"], n_entities),
            "event_timestamp": base + pd.to_timedelta(rng.integers(0, 60, n_entities), unit="h"),
        }
    )
    spend = view(ttl=timedelta(hours=10))
    for strict in (False, True):
        result = point_in_time_join(given, [(spend, features)], strict=strict)
        expected = []
        for _, entity in given.iterrows():
            ok = features[(features.user_id == entity.user_id) & (features.event_timestamp <= entity.event_timestamp)]
            if strict:
                ok = ok[ok.created_timestamp <= entity.event_timestamp]
            ok = ok.sort_values(["event_timestamp", "created_timestamp"])
            if ok.empty or entity.event_timestamp - ok.iloc[-1].event_timestamp > spend.ttl:
                expected.append(None)
            else:
                expected.append(float(ok.iloc[-1].amount))
        assert amounts(result) == expected


def test_null_keys_match_nothing() -> None:
    features = rows(("u1", "2024-01-01", "2024-01-01", 1.0))
    features.loc[0, "user_id"] = None
    given = pd.DataFrame({"user_id": [None, "u1"], "event_timestamp": ["2024-01-01T01:00Z"] * 2})
    assert amounts(point_in_time_join(given, [(view(), features)])) == [None, None]
    pair = view("pair", entities=(USER, SHOP))
    paired = features.assign(shop_id="s1")
    given = given.assign(shop_id="s1")
    assert amounts(point_in_time_join(given, [(pair, paired)])) == [None, None]
