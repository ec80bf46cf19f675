"""Choosing a training set's source: entity rows from the label view, retrain windows, operator requests."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from functions.feature_store.training_sets import entity_events
from functions.handlers.retrain_guard import training_window
from functions.shared.errors import ConfigurationError
from functions.training.model_spec import FeatureStoreInputs
from mlops.operator import training_request
from tests.projects import seattle

DAILY_WEATHER = seattle().feature_view("daily_weather", 1)


def stored_rows() -> pd.DataFrame:
    stamps = pd.to_datetime(["2015-01-02", "2015-01-01", "2015-01-03", "2015-01-02"], utc=True)
    return pd.DataFrame(
        {
            "station_id": ["seattle", "seattle", "seattle", "seattle"],
            "event_timestamp": stamps,
            # The same event stored twice (a re-ingest) is one entity row
            "created_timestamp": pd.to_datetime(["2026-01-01"] * 4, utc=True),
        }
    )


def test_entity_rows_are_the_label_views_distinct_events_in_the_window_oldest_first() -> None:
    events = entity_events(
        stored_rows(),
        DAILY_WEATHER,
        start=datetime(2015, 1, 2, tzinfo=UTC),
        end=datetime(2015, 1, 3, tzinfo=UTC),
    )
    assert list(events.columns) == ["station_id", "event_timestamp"]
    assert [t.date().isoformat() for t in events["event_timestamp"]] == ["2015-01-02", "2015-01-03"]


def test_entity_rows_without_a_window_are_every_event() -> None:
    assert len(entity_events(stored_rows(), DAILY_WEATHER)) == 3


def test_a_retrain_reads_up_to_its_trigger_and_leaves_the_start_to_the_model_s_declared_window() -> None:
    at = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert training_window(at) == {"end": "2026-11-26T03:00:00Z"}


def test_operator_training_requests_default_to_the_feature_store() -> None:
    assert training_request() == {"feature_store": {}}
    assert training_request(start="2015-01-01") == {"feature_store": {"start": "2015-01-01"}}
    assert training_request("s3://b/k.csv") == {"source_uri": "s3://b/k.csv"}
    with pytest.raises(ValueError, match="do not apply to --source"):
        training_request("s3://b/k.csv", start="2015-01-01")


def test_feature_store_inputs_name_their_label_view_among_their_views() -> None:
    project = seattle()
    assert project.view_by_ref("daily_weather:v1") is DAILY_WEATHER
    assert project.view_by_ref("daily_weather") is DAILY_WEATHER
    with pytest.raises(ConfigurationError, match="label_view"):
        FeatureStoreInputs(views=("weather_7d:v1",), label_view="daily_weather:v1")
