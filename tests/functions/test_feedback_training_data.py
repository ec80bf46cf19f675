"""Ground truth becomes training data: the monitor's join into the feedback view, training sets reading it (moto)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from functions.feature_store.feedback import CAPTURE_DELIVERY_MARGIN, FEEDBACK_SOURCE, ROW_SOURCE, STORE_SOURCE
from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.steps import join_feedback_labels
from functions.feature_store.transformations import apply_transformation
from functions.feature_store.validation import validate_rows
from functions.monitoring.monitor_store import CaptureStore
from functions.serving.capture import FeedbackStore
from functions.serving.capture_format import capture_lines, capture_record
from functions.shared.objects import ObjectStore
from functions.training.model_spec import TrainingWindow
from functions.training.training_sets import training_source
from tests.projects import SEATTLE_DIR, seattle

OFFLINE, CAPTURES = "offline", "captures"
PROJECT = seattle()
MODEL = PROJECT.models[0]
DAILY = PROJECT.feature_view("daily_weather", 1)
# The shipped history ends 2015-12-31; the served predictions and their labels come after it.
SERVED = datetime(2016, 1, 10, 12, 0, tzinfo=UTC)
RECORD = {"precipitation": 0.0, "temp_max": 28.0, "temp_min": 17.0, "wind": 3.1}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (OFFLINE, CAPTURES):
            s3.create_bucket(Bucket=bucket)
        raw = pd.read_csv(SEATTLE_DIR / "data" / "seattle-weather.csv")
        valid = validate_rows(raw, PROJECT.raw_source("seattle_weather").schema, unique_keys=("date",)).valid
        OfflineStore(s3, OFFLINE).write(
            DAILY,
            apply_transformation(DAILY, valid),
            source_uri="s3://raw/w.csv",
            source_sha256="history",
            created=datetime(2016, 1, 1, tzinfo=UTC),
            write_id="backfill",
        )
        yield s3


def serve(s3: Any, count: int, at: datetime) -> list[str]:
    """``count`` captured predictions at ``at``, in one capture object as Firehose delivers them."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    records = [
        capture_record(prediction_id=pid, model_name=MODEL.name, model_version=1,
                       features={**RECORD, "temp_max": RECORD["temp_max"] + i}, prediction={"label": "sun"}, at=at)
        for i, pid in enumerate(ids)
    ]  # fmt: skip
    body = "\n".join(capture_lines(records).lines).encode()
    s3.put_object(Bucket=CAPTURES, Key=f"captures/model={MODEL.name}/{at:%Y/%m/%d/%H}/{uuid.uuid4()}", Body=body)
    return ids


def label(s3: Any, labels: dict[str, str], at: datetime, *, model: str | None = MODEL.name) -> None:
    FeedbackStore(s3, CAPTURES, model=model).put([{"prediction_id": p, "label": v} for p, v in labels.items()], at=at)


def join(s3: Any, end: datetime, run_id: str) -> dict[str, Any]:
    summary, rejected = join_feedback_labels(
        CaptureStore(s3, CAPTURES),
        OfflineStore(s3, OFFLINE),
        model=MODEL.name,
        view=PROJECT.feedback_view(MODEL),
        label=MODEL.label,
        labels=MODEL.labels,
        end=end,
        max_label_delay=timedelta(days=7),
        run_id=run_id,
        created=end,
    )
    assert rejected == []
    return summary


def training_set(s3: Any, *, spec: Any = MODEL, **options: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    source = training_source(
        {"feature_store": options}, objects=ObjectStore(s3), offline=OfflineStore(s3, OFFLINE), project=PROJECT
    )
    built = source.build(spec)
    return built.frame, built.origin


def test_a_retrain_after_feedback_has_more_rows_with_the_feedback_provenance(aws: Any) -> None:
    # Given the history's training set before any feedback
    before, origin = training_set(aws, as_of="2016-01-11T00:00:00Z")
    assert origin["rows_by_source"] == {STORE_SOURCE: 1461, FEEDBACK_SOURCE: 0}
    # When 40 predictions are served, 30 get their label an hour later, and the monitor's join runs
    ids = serve(aws, 40, SERVED)
    label(aws, dict.fromkeys(ids[:30], "rain"), SERVED + timedelta(hours=1))
    end = SERVED + timedelta(hours=2)
    summary = join(aws, end, "monitor-1")
    assert summary["counts"] == {"labels": 30, "joined": 30, "quarantined": 0, "superseded": 0}
    assert summary["write"]["rows"] == 30 and summary["write"]["view"] == "feedback_seattle_weather"
    # Then the next training set has those 30 rows more, each with its provenance, newest last
    after, origin = training_set(aws)
    assert len(after) == len(before) + 30
    assert origin["rows_by_source"] == {STORE_SOURCE: 1461, FEEDBACK_SOURCE: 30}
    fed = after[after[ROW_SOURCE] == FEEDBACK_SOURCE]
    assert set(fed["prediction_id"]) == set(ids[:30]) and (fed["weather"] == "rain").all()
    assert (pd.to_datetime(fed["labelled_at"], utc=True) == pd.Timestamp(SERVED + timedelta(hours=1))).all()
    assert (pd.to_datetime(fed["date"], utc=True) == pd.Timestamp(SERVED)).all()  # the capture time
    assert list(after.tail(30)[ROW_SOURCE]) == [FEEDBACK_SOURCE] * 30
    assert after[after[ROW_SOURCE] == STORE_SOURCE]["prediction_id"].isna().all()
    assert origin["feedback"]["view"] == "feedback_seattle_weather:v1" and origin["feedback"]["files"]
    # And a training set rebuilt as of before the join does not see labels that had not arrived
    rebuilt, _ = training_set(aws, as_of=(end - timedelta(minutes=1)).isoformat())
    assert len(rebuilt) == len(before)


def test_the_join_is_incremental_takes_late_labels_and_quarantines_unknown_ids(aws: Any) -> None:
    ids = serve(aws, 5, SERVED)
    label(aws, {ids[0]: "sun"}, SERVED + timedelta(minutes=30))
    label(aws, {ids[1]: "rain"}, SERVED + timedelta(minutes=30), model=None)  # stored before feedback was per model
    label(aws, {str(uuid.uuid4()): "sun"}, SERVED + timedelta(minutes=30), model="another-model")  # not ours
    first = join(aws, SERVED + timedelta(hours=1), "monitor-1")
    assert first["counts"] == {"labels": 2, "joined": 2, "quarantined": 0, "superseded": 0}
    # When the same window is joined again nothing is taken twice
    again = join(aws, SERVED + timedelta(hours=1), "monitor-2")
    assert again["status"] == "up_to_date"
    # When a label arrives three days late, one for an id nobody served, and one too recent for its capture
    late = SERVED + timedelta(days=3)
    label(aws, {ids[2]: "fog", "00000000-0000-4000-8000-000000000000": "sun"}, late)
    label(aws, {ids[3]: "sun"}, late + timedelta(hours=1) - CAPTURE_DELIVERY_MARGIN + timedelta(minutes=1))
    third = join(aws, late + timedelta(hours=1), "monitor-3")
    # Then the late label joins its three-day-old capture, the unknown id is quarantined with its reason,
    # and the too-recent label waits for the next run
    assert third["counts"] == {"labels": 2, "joined": 1, "quarantined": 1, "superseded": 0}
    assert third["reasons"] == {"unknown prediction id": 1}
    key = "quarantine/feedback_seattle_weather/monitor-3.json"
    report = json.loads(aws.get_object(Bucket=OFFLINE, Key=key)["Body"].read())
    assert report["counts"]["quarantined"] == 1 and report["quarantine_uri"].endswith("monitor-3.parquet")
    fourth = join(aws, late + timedelta(hours=2), "monitor-4")
    assert fourth["counts"]["joined"] == 1
    frame, origin = training_set(aws)
    assert origin["rows_by_source"][FEEDBACK_SOURCE] == 4
    assert set(frame.loc[frame[ROW_SOURCE] == FEEDBACK_SOURCE, "prediction_id"]) == set(ids[:4])


def test_the_declared_training_window_bounds_history_and_feedback(aws: Any) -> None:
    ids = serve(aws, 3, datetime(2015, 12, 20, tzinfo=UTC))
    label(aws, dict.fromkeys(ids, "sun"), datetime(2015, 12, 21, tzinfo=UTC))
    join(aws, datetime(2015, 12, 22, tzinfo=UTC), "monitor-1")
    # A model that reads the last 30 days: December 2015's days and the feedback captured in them
    recent = replace(MODEL, training_window=TrainingWindow(days=30))
    frame, origin = training_set(aws, spec=recent, end="2015-12-31T00:00:00Z")
    assert origin["rows_by_source"] == {STORE_SOURCE: 31, FEEDBACK_SOURCE: 3}
    assert origin["window"]["declared"] == "the last 30 days, with labelled feedback"
    assert pd.to_datetime(frame["date"], utc=True).min() >= pd.Timestamp("2015-12-01", tz="UTC")
    # A model that reads no feedback, and one from a fixed date: the store alone, from that date
    since = replace(MODEL, training_window=TrainingWindow(since="2015-07-01", feedback=False))
    _, origin = training_set(aws, spec=since)
    assert origin["rows_by_source"] == {STORE_SOURCE: 184, FEEDBACK_SOURCE: 0}
    # And a run's own start still wins over the declared window
    _, origin = training_set(aws, spec=recent, start="2015-01-01T00:00:00Z", end="2015-12-31T00:00:00Z")
    assert origin["rows_by_source"][STORE_SOURCE] == 365
