"""The capture line: how the inference function logs its predictions, and how monitoring reads them back."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.monitoring.captures import parse_captures
from functions.serving.capture import PredictionCapture
from functions.serving.capture_format import CAPTURE_FILTER_PATTERN, MAX_LINE_BYTES, capture_lines, capture_record
from mlops.local.logs import FilterPattern

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(index: int, *, text: str = "") -> dict[str, Any]:
    features: dict[str, Any] = {"temp_max": 11.0 + index, "wind": 5.2, "busy": index % 2 == 0}
    if text:
        features["note"] = text
    return capture_record(
        prediction_id=str(uuid.UUID(int=index)),
        model_name="m",
        model_version=3,
        features=features,
        prediction={"label": "rain", "probabilities": {"rain": 0.75, "sun": 0.25}},
        at=AT,
    )


def test_a_request_is_one_marked_line_that_monitoring_reads_back_record_for_record() -> None:
    records = [record(i) for i in range(3)]
    encoded = capture_lines(records)
    (line,) = encoded.lines
    assert (encoded.records, encoded.oversized) == (3, 0)
    assert json.loads(line) == {"mlops_capture": "v1", "records": records}
    frame, rejected = parse_captures(line, "s3://b/k")
    assert rejected == []
    assert frame["prediction_id"].tolist() == [r["prediction_id"] for r in records]
    assert frame["feature:busy"].tolist() == ["true", "false", "true"]
    assert set(frame["model_version"]) == {3}


def test_records_past_the_event_limit_are_split_over_lines_in_order() -> None:
    # Given records whose one line would pass a (small) limit
    records = [record(i) for i in range(40)]
    limit = 2000
    encoded = capture_lines(records, max_bytes=limit)
    # Then every line fits, is a capture line on its own, and together they carry every record in order
    assert len(encoded.lines) > 1 and encoded.records == 40
    assert all(len(line.encode()) <= limit for line in encoded.lines)
    carried = [r for line in encoded.lines for r in json.loads(line)["records"]]
    assert carried == records


def test_the_largest_request_fits_cloudwatch_logs_events() -> None:
    # 1000 records (the API's limit) with long, non-ASCII text features
    encoded = capture_lines([record(i, text="é" * 400) for i in range(1000)])
    assert encoded.records == 1000 and len(encoded.lines) > 1
    assert max(len(line.encode()) for line in encoded.lines) <= MAX_LINE_BYTES == 256 * 1024 - 26


def test_a_record_too_large_for_any_line_is_left_out_and_counted() -> None:
    encoded = capture_lines([record(0), record(1, text="x" * 5000), record(2)], max_bytes=2000)
    assert (encoded.records, encoded.oversized) == (2, 1)
    carried = [r["prediction_id"] for line in encoded.lines for r in json.loads(line)["records"]]
    assert carried == [record(0)["prediction_id"], record(2)["prediction_id"]]


def test_the_writer_writes_all_lines_at_once_and_flushes() -> None:
    class Stream(io.StringIO):
        writes = flushes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            return super().write(text)

        def flush(self) -> None:
            self.flushes += 1

    stream = Stream()
    PredictionCapture(stream, max_bytes=2000).put([record(i) for i in range(40)])
    assert (stream.writes, stream.flushes) == (1, 1)
    lines = stream.getvalue().splitlines()
    assert len(lines) > 1 and stream.getvalue().endswith("\n")
    frame, rejected = parse_captures(stream.getvalue(), "stdout")
    assert rejected == [] and len(frame) == 40


def test_the_subscription_filter_selects_capture_lines_and_nothing_else_the_function_prints() -> None:
    pattern = FilterPattern.parse(CAPTURE_FILTER_PATTERN, "test")
    (line,) = capture_lines([record(0)]).lines
    assert pattern.matches(line)
    others = [
        '{"level":"INFO","message":"model loaded","service":"Inference"}',
        '{"_aws":{"CloudWatchMetrics":[]},"CapturedRecords":[1]}',
        '{"level":"INFO","message":"x","mlops_capture":"v2"}',
        "START RequestId: 1 Version: $LATEST",
        "mlops_capture v1",
    ]
    assert not any(pattern.matches(other) for other in others)


def test_a_bad_record_in_a_capture_line_is_rejected_alone_and_named() -> None:
    good, bad = record(0), {**record(1), "model_version": "three"}
    frame, rejected = parse_captures(json.dumps({"mlops_capture": "v1", "records": [good, bad]}), "s3://b/k")
    assert frame["prediction_id"].tolist() == [good["prediction_id"]]
    (reason,) = [r.reason for r in rejected]
    assert reason == "records[1]: model_version must be an integer"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ({"mlops_capture": "v9", "records": []}, "mlops_capture must be 'v1', got 'v9'"),
        ({"mlops_capture": "v1", "records": {}}, "records must be a list"),
    ],
)
def test_a_capture_line_of_another_shape_is_rejected(line: dict[str, Any], reason: str) -> None:
    frame, rejected = parse_captures(json.dumps(line), "s3://b/k")
    assert frame.empty and [r.reason for r in rejected] == [reason]
