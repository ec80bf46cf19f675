"""Captured predictions joined with delayed ground truth into labelled feedback rows (pure core)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from functions.feature_store.definitions import CREATED_TIMESTAMP, EVENT_TIMESTAMP, Field, ValueType
from functions.feature_store.feedback import (
    CAPTURE_DELIVERY_MARGIN,
    CAPTURED_AT,
    FEEDBACK_SOURCE,
    LABELLED_AT,
    PREDICTED_BY,
    ROW_SOURCE,
    feedback_view,
    join_feedback,
    labels_due,
    rows_sha256,
    training_rows,
)
from functions.monitoring.captures import parse_captures, parse_feedback
from functions.serving.capture_format import capture_lines, capture_record
from functions.shared.errors import ConfigurationError

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INPUTS = (Field("temp", ValueType.FLOAT64, minimum=-40, maximum=50), Field("wind", ValueType.FLOAT64))
LABEL = Field("sky", ValueType.STRING, allowed=("sun", "rain"))
VIEW = feedback_view("sky-model", INPUTS, LABEL)


def captured(*predictions: tuple[str, float, datetime], version: int = 1) -> pd.DataFrame:
    """Capture lines as serving writes them (one line for all), parsed as monitoring parses them."""
    records = [
        capture_record(
            prediction_id=pid,
            model_name="sky-model",
            model_version=version,
            features={"temp": temp, "wind": 3.0},
            prediction={"label": "sun", "probabilities": {"sun": 0.8, "rain": 0.2}},
            at=at,
        )
        for pid, temp, at in predictions
    ]
    frame, rejected = parse_captures("\n".join(capture_lines(records).lines), "s3://captures/x.jsonl")
    assert not rejected
    return frame


def labelled(*labels: tuple[str, Any, datetime]) -> pd.DataFrame:
    text = "\n".join(json.dumps({"prediction_id": p, "label": v, "timestamp": at.isoformat()}) for p, v, at in labels)
    frame, rejected = parse_feedback(text, "s3://captures/feedback.jsonl")
    assert not rejected
    return frame


def test_a_label_joins_its_capture_into_a_row_with_its_provenance() -> None:
    # Given a captured prediction and its label an hour later
    captures = captured(("p-1", 21.5, T0))
    feedback = labelled(("p-1", "rain", T0 + timedelta(hours=1)))
    # When they are joined
    joined = join_feedback(captures, feedback, view=VIEW, label="sky", labels=("sun", "rain"))
    # Then one labelled row: the captured features, the true label, where and when it came from
    [row] = joined.rows.to_dict(orient="records")
    assert row["prediction_id"] == "p-1" and row["temp"] == 21.5 and row["sky"] == "rain"
    assert row[ROW_SOURCE] == FEEDBACK_SOURCE and row[PREDICTED_BY] == 1
    assert row[EVENT_TIMESTAMP] == row[CAPTURED_AT] == pd.Timestamp(T0)
    assert row[LABELLED_AT] == pd.Timestamp(T0 + timedelta(hours=1))
    assert list(joined.rows.columns) == ["prediction_id", EVENT_TIMESTAMP, *VIEW.feature_names]
    assert joined.counts() == {"labels": 1, "joined": 1, "quarantined": 0, "superseded": 0}


def test_a_label_for_an_unknown_prediction_id_is_quarantined_with_its_reason() -> None:
    captures = captured(("p-1", 21.5, T0))
    feedback = labelled(("p-1", "sun", T0), ("nobody", "rain", T0))
    joined = join_feedback(captures, feedback, view=VIEW, label="sky", labels=("sun", "rain"), captures_read=" in X")
    assert list(joined.rows["prediction_id"]) == ["p-1"]
    [refused] = joined.quarantined.to_dict(orient="records")
    assert refused["prediction_id"] == "nobody" and refused["label"] == "rain"
    assert refused["reason"] == "unknown prediction id: no capture of nobody by this model in X"
    assert joined.reasons() == {"unknown prediction id": 1}


def test_duplicate_labels_the_latest_wins_and_a_capture_delivered_twice_is_one() -> None:
    # Given a capture delivered twice (at-least-once delivery) and three labels for it, out of order
    captures = pd.concat([captured(("p-1", 21.5, T0)), captured(("p-1", 21.5, T0))], ignore_index=True)
    feedback = labelled(
        ("p-1", "sun", T0 + timedelta(minutes=5)),
        ("p-1", "rain", T0 + timedelta(minutes=30)),
        ("p-1", "sun", T0 + timedelta(minutes=10)),
    )
    joined = join_feedback(captures, feedback, view=VIEW, label="sky", labels=("sun", "rain"))
    # Then one row with the latest label, two superseded, nothing quarantined
    assert list(joined.rows["sky"]) == ["rain"]
    assert joined.superseded == 2 and joined.quarantined.empty


def test_an_ambiguous_capture_or_a_label_the_model_does_not_know_is_quarantined() -> None:
    captures = pd.concat([captured(("p-1", 21.5, T0)), captured(("p-1", 30.0, T0))], ignore_index=True)
    captures = pd.concat([captures, captured(("p-2", 10.0, T0))], ignore_index=True)
    feedback = labelled(("p-1", "sun", T0), ("p-2", "snow", T0))
    joined = join_feedback(captures, feedback, view=VIEW, label="sky", labels=("sun", "rain"))
    assert joined.rows.empty
    reasons = dict(zip(joined.quarantined["prediction_id"], joined.quarantined["reason"], strict=True))
    assert reasons["p-1"].startswith("ambiguous capture: prediction p-1 was captured 2 times")
    assert reasons["p-2"] == "invalid label: 'snow' is not one of ['sun', 'rain']"


def test_a_capture_without_a_feature_is_quarantined_and_a_repeated_identical_one_joins_once() -> None:
    captures = pd.concat([captured(("p-1", 21.5, T0)), captured(("p-1", 21.5, T0))], ignore_index=True)
    captures = pd.concat([captures, captured(("p-2", 10.0, T0)), captured(("p-3", 11.0, T0))], ignore_index=True)
    captures.loc[captures["prediction_id"] == "p-2", "feature:wind"] = None
    feedback = labelled(("p-1", "sun", T0), ("p-2", "rain", T0), ("p-3", "rain", T0))
    joined = join_feedback(captures, feedback, view=VIEW, label="sky", labels=("sun", "rain"))
    assert list(joined.rows["sky"]) == ["sun", "rain"]  # p-1 (captured twice, the same values) and p-3
    reasons = dict(zip(joined.quarantined["prediction_id"], joined.quarantined["reason"], strict=True))
    assert reasons == {"p-2": "capture lacks features: prediction p-2 was captured without ['wind']"}


def test_a_late_label_is_joined_at_its_capture_time_and_a_correction_replaces_it() -> None:
    # Given a label that arrives three days after its prediction
    captures = captured(("p-1", 21.5, T0), ("p-2", 12.0, T0 + timedelta(minutes=1)))
    late = labelled(("p-1", "sun", T0 + timedelta(days=3)), ("p-2", "rain", T0 + timedelta(days=3)))
    first = join_feedback(captures, late, view=VIEW, label="sky", labels=("sun", "rain")).rows
    # Then its row keeps the capture time as event time (when the features were observed)
    assert list(first[EVENT_TIMESTAMP]) == [pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(minutes=1))]
    assert (first[LABELLED_AT] - first[CAPTURED_AT]).min() >= timedelta(days=3) - timedelta(minutes=1)
    # And when a correction of p-1 arrives later still and is stored as a newer write
    fix = labelled(("p-1", "rain", T0 + timedelta(days=4)))
    second = join_feedback(captures, fix, view=VIEW, label="sky", labels=("sun", "rain")).rows
    writes = [first.assign(**{CREATED_TIMESTAMP: T0 + timedelta(days=3)})]
    writes.append(second.assign(**{CREATED_TIMESTAMP: T0 + timedelta(days=4)}))
    stored = pd.concat(writes, ignore_index=True)
    table = training_rows(stored, features=["temp", "wind"], label="sky", timestamp="ts")
    # Then training sees each prediction once, with its latest label, in capture-time order
    assert list(table["prediction_id"]) == ["p-1", "p-2"] and list(table["sky"]) == ["rain", "rain"]
    assert list(table.columns) == ["ts", "temp", "wind", "sky", "prediction_id", ROW_SOURCE, LABELLED_AT]


def test_labels_are_taken_once_and_only_after_their_captures_could_arrive() -> None:
    end = T0 + timedelta(hours=2)
    through = end - CAPTURE_DELIVERY_MARGIN
    feedback = labelled(
        ("a", "sun", T0),  # joined by the previous run
        ("b", "sun", T0 + timedelta(hours=1)),
        ("c", "sun", end - timedelta(minutes=1)),  # too recent: its capture may still be on its way
    )
    due = labels_due(feedback, after=T0, through=through)
    assert list(due["prediction_id"]) == ["b"]


def test_the_same_labels_give_the_same_digest() -> None:
    captures = captured(("p-1", 21.5, T0), ("p-2", 12.0, T0))
    feedback = labelled(("p-2", "rain", T0), ("p-1", "sun", T0))
    rows = join_feedback(captures, feedback, view=VIEW, label="sky", labels=("sun", "rain")).rows
    again = join_feedback(captures, feedback.iloc[::-1], view=VIEW, label="sky", labels=("sun", "rain")).rows
    assert rows_sha256(rows, label="sky") == rows_sha256(again, label="sky")


def test_a_model_feature_named_like_a_provenance_column_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="clashes with the feedback provenance columns"):
        feedback_view("m", (Field("labelled_at", ValueType.FLOAT64),), LABEL)


def test_a_regression_label_must_be_a_number() -> None:
    view = feedback_view("price", INPUTS, Field("price", ValueType.FLOAT64))
    captures = captured(("p-1", 21.5, T0), ("p-2", 1.0, T0))
    feedback = labelled(("p-1", 101.5, T0), ("p-2", "cheap", T0))
    joined = join_feedback(captures, feedback, view=view, label="price")
    assert list(joined.rows["price"]) == [101.5]
    assert list(joined.quarantined["reason"]) == ["invalid label: 'cheap' is not a number"]


def test_one_requests_rows_are_ordered_by_content_not_by_their_random_ids() -> None:
    # Given the same three labelled predictions of one request (one capture time), twice under other ids
    def stored(ids: list[str]) -> pd.DataFrame:
        captures = captured(*((pid, temp, T0) for pid, temp in zip(ids, (25.0, 11.0, 18.0), strict=True)))
        feedback = labelled(*((pid, "sun", T0 + timedelta(hours=1)) for pid in ids))
        rows = join_feedback(captures, feedback, view=VIEW, label="sky", labels=("sun", "rain")).rows
        return rows.assign(**{CREATED_TIMESTAMP: T0 + timedelta(hours=2)})

    first = training_rows(stored(["c", "a", "b"]), features=["temp", "wind"], label="sky", timestamp="ts")
    second = training_rows(stored(["x", "z", "y"]), features=["temp", "wind"], label="sky", timestamp="ts")
    # Then a time split holds out the same rows either way
    assert list(first["temp"]) == list(second["temp"]) == [11.0, 18.0, 25.0]
