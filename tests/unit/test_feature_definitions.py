"""Feature definitions, validation with quarantine, versioned rules, manifests (pure core)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from functions.feature_store.definitions import (
    Entity,
    FeatureView,
    Field,
    Transformation,
    ValueType,
    transformation,
)
from functions.feature_store.manifest import StoredFile, training_set_manifest
from functions.feature_store.transformations import apply_transformation
from functions.feature_store.validation import REASON, enforce_bad_row_fraction, validate_rows
from functions.shared.errors import ConfigurationError, DataValidationError
from tests.projects import SEATTLE_DIR, seattle

SOURCE = seattle().raw_source("seattle_weather")
DAILY = seattle().feature_view("daily_weather", 1)
WEEKLY = seattle().feature_view("weather_7d", 1)
STATION = next(e for e in seattle().entities if e.name == "station")
IDENTITY = Transformation("identity", 1, lambda raw: raw)


def shipped() -> pd.DataFrame:
    return pd.read_csv(SEATTLE_DIR / "data" / "seattle-weather.csv")


def with_bad_rows() -> pd.DataFrame:
    frame = shipped().head(20).astype(object)
    frame.loc[1, "precipitation"] = None  # null
    frame.loc[2, "temp_max"] = "hot"  # type
    frame.loc[3, "wind"] = -4.0  # range
    frame.loc[4, "weather"] = "hail"  # category
    frame.loc[6, "date"] = frame.loc[5, "date"]  # duplicate of row 5
    frame.loc[7, "date"] = "not a date"  # type
    frame.loc[8, "temp_min"] = float("inf")  # range (not finite)
    return frame


def test_every_bad_row_is_quarantined_with_one_reason_and_counts_reconcile() -> None:
    source = SOURCE
    result = validate_rows(with_bad_rows(), source.schema, unique_keys=source.unique_keys)
    assert result.rows_in == 20
    assert result.rows_valid + result.rows_quarantined == result.rows_in
    reasons = dict(zip(result.quarantined["source_row"], result.quarantined[REASON], strict=True))
    assert sorted(reasons) == [1, 2, 3, 4, 6, 7, 8]
    assert reasons[1].startswith("null: precipitation")
    assert reasons[2].startswith("type: temp_max")
    assert reasons[3].startswith("range: wind")
    assert reasons[4].startswith("category: weather")
    assert reasons[6].startswith("duplicate: same date")
    assert reasons[7].startswith("type: date")
    assert reasons[8].startswith("range: temp_min")
    assert result.reasons() == {"category": 1, "duplicate": 1, "null": 1, "range": 2, "type": 2}
    assert str(result.valid["date"].dtype) == "datetime64[ns, UTC]"
    assert result.valid["precipitation"].dtype == "float64"


def test_a_row_failing_several_checks_gets_the_first_reason_only() -> None:
    frame = shipped().head(3).astype(object)
    frame.loc[0, "precipitation"] = None
    frame.loc[0, "weather"] = "hail"
    result = validate_rows(frame, SOURCE.schema)
    assert list(result.quarantined[REASON]) == ["null: precipitation is required"]


def test_a_missing_column_fails_the_batch_naming_it() -> None:
    with pytest.raises(DataValidationError, match="missing columns: wind"):
        validate_rows(shipped().drop(columns=["wind"]), SOURCE.schema)


def test_too_many_bad_rows_fail_with_the_reasons() -> None:
    result = validate_rows(with_bad_rows(), SOURCE.schema, unique_keys=("date",))
    enforce_bad_row_fraction(result, 0.5)
    with pytest.raises(DataValidationError, match=r"7 of 20 rows are bad .*range=2"):
        enforce_bad_row_fraction(result, 0.1)


def test_bool_and_int_fields_are_typed_and_checked() -> None:
    schema = (Field("n", ValueType.INT64, minimum=0), Field("flag", ValueType.BOOL, nullable=True))
    frame = pd.DataFrame({"n": ["1", "2.5", "-1", "4"], "flag": ["true", "0", None, "maybe"]})
    result = validate_rows(frame, schema)
    assert list(result.valid["n"]) == [1]
    assert list(result.valid["flag"]) == [True]
    assert [r.split(":")[0] for r in result.quarantined[REASON]] == ["type", "range", "type"]


def test_definitions_reject_mistakes_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="ttl must be positive"):
        FeatureView("v", 1, (STATION,), (Field("x", ValueType.FLOAT64),), timedelta(0), "s", IDENTITY)
    with pytest.raises(ConfigurationError, match="reserved"):
        FeatureView(
            "v",
            1,
            (STATION,),
            (Field("station_id", ValueType.STRING),),
            timedelta(1),
            "s",
            IDENTITY,
        )
    with pytest.raises(ConfigurationError, match="range needs a numeric"):
        Field("w", ValueType.STRING, minimum=0)
    with pytest.raises(ConfigurationError, match="join key"):
        Entity("e", join_keys=())
    with pytest.raises(ConfigurationError, match="version must be >= 1, got 0"):
        Transformation("nope", 0, lambda raw: raw)
    with pytest.raises(ConfigurationError, match=r"nope@v3: fn must be a function"):
        Transformation("nope", 3, "not a function")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must be an identifier"):
        transformation("not a name", 1)(lambda raw: raw)
    with pytest.raises(ConfigurationError, match="known: daily_weather:v1"):
        seattle().feature_view("daily_weather", 9)


def test_a_transformation_is_a_named_versioned_callable() -> None:
    @transformation("doubled", version=2, lookback=timedelta(days=3))
    def doubled(raw: pd.DataFrame) -> pd.DataFrame:
        return raw * 2

    assert isinstance(doubled, Transformation)
    assert str(doubled) == "doubled@v2"
    assert doubled.lookback == timedelta(days=3)
    assert doubled(pd.DataFrame({"x": [1, 2]}))["x"].tolist() == [2, 4]
    assert str(DAILY.transformation) == "seattle_daily_weather@v1"


def _view_with(rule: Transformation) -> FeatureView:
    return FeatureView("v", 1, (STATION,), (Field("x", ValueType.FLOAT64),), timedelta(days=1), "s", rule)


def _rows(**extra: object) -> pd.DataFrame:
    return pd.DataFrame({"station_id": ["a"], "event_timestamp": ["2024-01-01T00:00:00Z"], "x": [1.0], **extra})


def test_a_rule_output_must_be_exactly_the_views_columns() -> None:
    assert list(apply_transformation(_view_with(IDENTITY), _rows()).columns) == ["station_id", "event_timestamp", "x"]
    with pytest.raises(DataValidationError, match=r"emits column\(s\) \['y'\] that view 'v' does not declare"):
        apply_transformation(_view_with(IDENTITY), _rows(y=[2.0]))
    with pytest.raises(DataValidationError, match=r"lacks \['x'\]"):
        apply_transformation(_view_with(IDENTITY), _rows().drop(columns=["x"]))
    as_list = Transformation("as_list", 1, lambda raw: raw.to_dict("records"))
    with pytest.raises(DataValidationError, match="as_list@v1 for v:v1 returned list, not a DataFrame"):
        apply_transformation(_view_with(as_list), _rows())


def test_shipped_rules_produce_each_views_schema() -> None:
    raw = validate_rows(shipped(), SOURCE.schema, unique_keys=("date",)).valid
    daily = apply_transformation(DAILY, raw)
    rolling = apply_transformation(WEEKLY, raw)
    assert len(daily) == len(rolling) == len(raw)
    assert (daily["temp_range"] == daily["temp_max"] - daily["temp_min"]).all()
    # 2012-01-07 is the first day with a full window of 7 days.
    day7 = rolling[rolling["event_timestamp"] == pd.Timestamp("2012-01-07", tz="UTC")].iloc[0]
    first7 = daily.head(7)
    assert day7["days_in_window"] == 7
    assert day7["precipitation_7d_sum"] == pytest.approx(first7["precipitation"].sum())
    assert day7["rain_days_7d"] == int((first7["precipitation"] > 0).sum())
    assert rolling.iloc[0]["days_in_window"] == 1


def test_training_set_manifest_records_versions_rules_and_files() -> None:
    files = [
        StoredFile("s3://b/features/x/2", "bb", 3, "2024-01-02"),
        StoredFile("s3://b/features/x/1", "aa", 5, "2024-01-01"),
    ]
    manifest = training_set_manifest([DAILY], files, entity_rows=4, entity_sha256="e", strict=True)
    data = manifest.to_dict()
    assert data["views"][0]["name"] == "daily_weather"
    assert data["views"][0]["version"] == 1
    assert data["views"][0]["transformation"] == "seattle_daily_weather@v1"
    assert [f["sha256"] for f in data["files"]] == ["aa", "bb"]
