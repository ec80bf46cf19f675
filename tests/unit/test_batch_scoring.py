"""Batch inference's pure parts: its input, an entity file's checks, its captures, and ResultWriter's files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from functions.monitoring.captures import parse_captures
from functions.serving.batch_scoring import capture_records, check_entities, score_frame
from functions.serving.capture_format import capture_lines
from functions.serving.signature import FeatureSignature, ModelSignature
from functions.serving.steps import BatchInput, check_partition_count
from functions.shared.errors import DataValidationError
from functions.shared.objects import S3Uri
from mlops.local.map_runs import result_files

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({}, "takes {'input_uri'"),
        ({"input_uri": "s3://b/p/", "entities_uri": "s3://b/e.parquet"}, "not both"),
        ({"input_uri": "s3://b/p/", "limit": 3}, "got keys ['input_uri', 'limit']"),
        ({"entities_uri": "/tmp/e.parquet"}, "entities_uri must be an s3:// URI, got '/tmp/e.parquet'"),
    ],
)
def test_a_batch_input_names_what_is_wrong_in_one_line(request_: dict[str, object], message: str) -> None:
    with pytest.raises(DataValidationError) as raised:
        BatchInput.parse(request_)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_an_entity_file_needs_its_keys_rows_and_timestamps() -> None:
    good = pd.DataFrame({"station_id": ["a", None], "event_timestamp": ["2015-01-01", "2015-01-02T06:00:00+01:00"]})
    checked = check_entities(good.assign(extra=1), ["station_id"], source="s3://b/e.parquet")
    # Only keys and time, UTC; a null key stays (the join gives it no features: INVALID, not dropped)
    assert list(checked.columns) == ["station_id", "event_timestamp"] and checked["station_id"].isna().sum() == 1
    assert str(checked["event_timestamp"].iloc[1]) == "2015-01-02 05:00:00+00:00"
    for frame, message in (
        (good.drop(columns="station_id"), "has no column(s) ['station_id']"),
        (good.iloc[:0], "has no rows"),
        (good.assign(event_timestamp=["2015-01-01", "soon"]), "1 values are not timestamps, e.g. 'soon'"),
    ):
        with pytest.raises(DataValidationError) as raised:
            check_entities(frame, ["station_id"], source="s3://b/e.parquet")
        assert "entity file s3://b/e.parquet" in str(raised.value) and message in str(raised.value)


def test_scored_rows_are_captured_as_the_monitor_reads_them_marked_as_batch_with_stable_ids() -> None:
    signature = ModelSignature(
        features=(FeatureSignature("x", "float"), FeatureSignature("flag", "bool")), labels=("no", "yes")
    )
    train = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "flag": [False, True, False, True]})
    model = DecisionTreeClassifier(random_state=0).fit(train, ["no", "no", "yes", "yes"])
    frame = pd.DataFrame({"x": [0.5, np.nan, 2.5], "flag": [True, False, False]})
    scored = score_frame(frame, model, signature, "m", 2, source_key="in/part.parquet", run_id="run-1")
    records = capture_records(scored, signature, at=AT)
    # Only the predicted rows, with the output rows' ids, as the endpoint's records plus source "batch"
    assert [r["prediction_id"] for r in records] == scored.frame["prediction_id"].dropna().tolist()
    assert {r["source"] for r in records} == {"batch"} and records[0]["features"] == {"x": 0.5, "flag": "true"}
    assert records[1]["prediction"]["label"] == "yes" and set(records[1]["prediction"]["probabilities"]) == {
        "no",
        "yes",
    }
    parsed, rejected = parse_captures("\n".join(capture_lines(records).lines), "s3://captures/x.jsonl")
    assert rejected == [] and parsed["predicted_label"].tolist() == ["no", "yes"]
    # A retried partition gives the same ids
    again = score_frame(frame, model, signature, "m", 2, source_key="in/part.parquet", run_id="run-1")
    assert again.frame["prediction_id"].equals(scored.frame["prediction_id"])


def test_result_writer_files_hold_each_child_output_as_json_text() -> None:
    files = result_files([{"key": "a", "rows": 1}, None, {"key": "b", "rows": 2}], "batch/map-results/run/")
    key, entries = files["SUCCEEDED"]
    assert key == "batch/map-results/run/SUCCEEDED_0.json"
    assert [json.loads(e["Output"]) for e in entries] == [{"key": "a", "rows": 1}, {"key": "b", "rows": 2}]
    assert files["FAILED"] == ("batch/map-results/run/FAILED_0.json", [{"Name": "1", "Status": "FAILED"}])


class _Listing:
    """An object store listing ``count`` keys under any prefix."""

    def __init__(self, count: int) -> None:
        self.count = count

    def keys(self, bucket: str, prefix: str) -> Iterator[str]:
        return (f"{prefix}part-{index}.parquet" for index in range(self.count))


def test_a_batch_takes_at_least_one_and_at_most_its_limit_of_partitions() -> None:
    source = S3Uri("data", "batch-input/day/")
    assert check_partition_count(_Listing(3), source, 3) == 3  # type: ignore[arg-type]
    for count, message in ((4, "s3://data/batch-input/day/ holds more than 3 objects"), (0, "no objects under")):
        with pytest.raises(DataValidationError, match=message):
            check_partition_count(_Listing(count), source, 3)  # type: ignore[arg-type]
