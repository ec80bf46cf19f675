"""The pure rules of a partitioned feature run: duplicates across parts, time order, windowed context."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from functions.feature_store.definitions import FeatureView, transformation
from functions.feature_store.partitions import (
    PlannedPartition,
    check_part_count,
    check_time_ordered,
    context_partitions,
    cross_partition_duplicates,
    is_partition_file,
    transform_with_context,
    valid_source_rows,
)
from functions.feature_store.transformations import apply_transformation
from functions.feature_store.validation import check_bad_row_fraction, validate_rows
from functions.handlers.feature_context import batch_folder
from functions.shared.errors import ConfigurationError, DataValidationError
from mlops.local.map_runs import exceeds_tolerance
from tests.projects import SEATTLE_DIR, seattle

SOURCE = seattle().raw_source("seattle_weather")
DAILY_WEATHER = seattle().feature_view("daily_weather", 1)
WEATHER_7D = seattle().feature_view("weather_7d", 1)
SHIPPED_CSV = SEATTLE_DIR / "data" / "seattle-weather.csv"


def valid_days(count: int) -> pd.DataFrame:
    raw = pd.read_csv(SHIPPED_CSV, dtype=str, keep_default_na=False).head(count)
    return validate_rows(raw, SOURCE.schema, unique_keys=SOURCE.unique_keys).valid


def planned(part_id: str, rows: pd.DataFrame) -> PlannedPartition:
    return PlannedPartition(
        id=part_id,
        source_uri=f"s3://raw/{part_id}.csv",
        source_sha256=part_id,
        staged_uri=f"s3://staging/{part_id}.parquet",
        rows=len(rows),
        event_min=rows["date"].min().isoformat(),
        event_max=rows["date"].max().isoformat(),
    )


def transform_in_parts(view: FeatureView, parts: list[pd.DataFrame], *, with_context: bool) -> pd.DataFrame:
    """What phase 2 does, with in-memory parts standing in for the staged files."""
    plan = [planned(str(n), part) for n, part in enumerate(parts)]
    out = []
    for partition, own in zip(plan, parts, strict=True):
        chosen, begin, end = context_partitions(partition, plan, view.transformation.lookback)
        context = pd.concat([parts[int(p.id)] for p in chosen] or [own.iloc[0:0]], ignore_index=True)
        context = context[(context["date"] >= begin) & (context["date"] < end)] if with_context else own.iloc[0:0]
        out.append(transform_with_context(view, own, context, partition.start))
    return pd.concat(out, ignore_index=True).sort_values("event_timestamp").reset_index(drop=True)


def test_a_batch_in_time_ordered_parts_transforms_to_the_same_rows_as_one_file() -> None:
    # Given 45 days as one file and as three parts of 15 days
    days = valid_days(45)
    parts = [days.iloc[0:15], days.iloc[15:30], days.iloc[30:45]]
    for view in seattle().feature_views:
        whole = apply_transformation(view, days).sort_values("event_timestamp").reset_index(drop=True)
        # When each part is transformed with its rule's lookback of the parts before it as context
        in_parts = transform_in_parts(view, parts, with_context=True)
        # Then every view's rows are the whole file's, value for value
        pd.testing.assert_frame_equal(in_parts, whole)


def test_without_its_lookback_a_windowed_rule_is_wrong_at_part_boundaries() -> None:
    # Given the same parts, transformed without context (what independent partitions would do)
    days = valid_days(45)
    parts = [days.iloc[0:15], days.iloc[15:30], days.iloc[30:45]]
    whole = apply_transformation(WEATHER_7D, days).sort_values("event_timestamp").reset_index(drop=True)
    alone = transform_in_parts(WEATHER_7D, parts, with_context=False)
    # Then the first days of the later parts see short windows: the context is what makes them right
    wrong = alone["days_in_window"] != whole["days_in_window"]
    assert wrong.sum() == 12  # six days after each of the two boundaries
    assert (alone.loc[wrong, "days_in_window"] < 7).all()


def test_rules_declare_their_lookback() -> None:
    assert WEATHER_7D.transformation.lookback == timedelta(days=7)
    assert DAILY_WEATHER.transformation.lookback == timedelta(0)
    with pytest.raises(ConfigurationError, match="lookback must not be negative"):
        transformation("backwards", 1, lookback=timedelta(days=-1))(lambda raw: raw)


def test_a_key_seen_in_an_earlier_part_is_a_duplicate_in_the_later_one() -> None:
    first = pd.DataFrame({"date": pd.to_datetime(["2012-01-01", "2012-01-02"], utc=True)})
    second = pd.DataFrame({"date": pd.to_datetime(["2012-01-02", "2012-01-03", "2012-01-01"], utc=True)})
    third = pd.DataFrame({"date": pd.to_datetime(["2012-01-04"], utc=True)})
    repeats = cross_partition_duplicates([first, second, third], ["date"])
    assert [r.tolist() for r in repeats] == [[], [0, 2], []]


def test_duplicates_compare_every_unique_key_column() -> None:
    first = pd.DataFrame({"station": ["a", "b"], "day": [1, 1]})
    second = pd.DataFrame({"station": ["a", "a"], "day": [2, 1]})
    assert [r.tolist() for r in cross_partition_duplicates([first, second], ["station", "day"])] == [[], [1]]


def test_windowed_views_need_parts_that_do_not_overlap_in_time() -> None:
    days = valid_days(30)
    overlapping = [planned("a", days.iloc[0:20]), planned("b", days.iloc[19:30])]
    with pytest.raises(DataValidationError, match=r"overlap in event time; windowed views \(weather_7d:v1\)"):
        check_time_ordered(overlapping, [WEATHER_7D])
    check_time_ordered(overlapping, [])  # row-by-row views do not care
    check_time_ordered([planned("a", days.iloc[0:20]), planned("b", days.iloc[20:30])], [WEATHER_7D])


def test_valid_rows_keep_their_row_number_in_the_part_file() -> None:
    raw = pd.read_csv(SHIPPED_CSV, dtype=str, keep_default_na=False).head(6)
    raw.loc[1, "weather"] = "hail"
    raw.loc[4, "wind"] = "x"
    result = validate_rows(raw, SOURCE.schema)
    assert valid_source_rows(result).tolist() == [0, 2, 3, 5]
    assert np.array_equal(result.valid["date"], validate_rows(raw.drop(index=[1, 4]), SOURCE.schema).valid["date"])


@pytest.mark.parametrize(
    ("key", "is_part"),
    [("b/part-00000.csv", True), ("b/_SUCCESS", False), ("b/.hidden", False), ("b/", False), ("b/2.parquet", True)],
)
def test_markers_hidden_files_and_folders_are_not_parts(key: str, is_part: bool) -> None:
    assert is_partition_file(key) is is_part


def test_a_batch_is_named_by_its_folder_or_its_marker() -> None:
    folder = "s3://data/raw/feature-batches/seattle_weather/2012-q1/"
    assert batch_folder({"source_prefix": folder}) == batch_folder({"batch_marker_uri": f"{folder}_SUCCESS"})
    uri, source = batch_folder({"source_prefix": folder})
    assert (str(uri), source) == (folder, "seattle_weather")
    with pytest.raises(DataValidationError, match="must name a folder"):
        batch_folder({"source_prefix": folder.rstrip("/")})
    with pytest.raises(DataValidationError, match="raw/feature-batches/<source>/<batch>/"):
        batch_folder({"source_prefix": "s3://data/raw/features/seattle_weather/"})
    with pytest.raises(DataValidationError, match="is named _SUCCESS"):
        batch_folder({"batch_marker_uri": f"{folder}part-0.csv"})


def test_the_batch_bad_row_fraction_names_counts_fraction_and_reasons() -> None:
    check_bad_row_fraction(100, 5, {"range": 5}, 0.05)
    with pytest.raises(
        DataValidationError, match=r"6 of 100 rows are bad \(6.0% > allowed 5.0%\): duplicate=1, range=5"
    ):
        check_bad_row_fraction(100, 6, {"range": 5, "duplicate": 1}, 0.05)


def test_a_map_run_fails_beyond_its_tolerated_failures() -> None:
    assert exceeds_tolerance(1, 10, count=0, percentage=0.0)
    assert not exceeds_tolerance(0, 10, count=0, percentage=0.0)
    assert not exceeds_tolerance(1, 10, count=1, percentage=100.0)
    assert exceeds_tolerance(2, 10, count=5, percentage=10.0)


def test_a_batch_of_more_part_files_than_a_run_is_sized_for_is_refused_by_name() -> None:
    check_part_count("s3://raw/raw/feature-batches/w/b1/", 200, 200)
    with pytest.raises(DataValidationError, match=r"batch s3://raw/raw/feature-batches/w/b1/ has 201 part files, "
                                                  r"more than the 200 one run takes"):  # fmt: skip
        check_part_count("s3://raw/raw/feature-batches/w/b1/", 201, 200)
