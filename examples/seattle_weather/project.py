"""Seattle daily weather (2012-2015, as shipped by vega_datasets): classify the day's weather.

Entity ``station`` (join key ``station_id``; the data has one station, ``seattle``). Raw
source ``seattle_weather``: one row per day with precipitation (mm), max/min temperature
(degC), wind (m/s) and a weather category. Two views, each produced by a versioned rule:

- ``daily_weather`` v1: the day's observations plus ``temp_range`` (it holds the label too);
- ``weather_7d`` v1: trailing 7-day aggregates (rain sum, mean max temperature, max wind,
  rainy days, days present in the window).

Both have a 2-day TTL: a training example (or online read) more than two days after the
last observation gets nulls (EXPIRED online), not stale weather.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from sklearn.ensemble import RandomForestClassifier

from functions.project import (
    EVENT_TIMESTAMP,
    DemoScenario,
    Entity,
    FeatureStoreInputs,
    FeatureView,
    Field,
    ModelSpec,
    Project,
    QualityGate,
    RawSource,
    SearchSpace,
    Task,
    TrainingWindow,
    ValueType,
    transformation,
)

WEATHER = ("drizzle", "fog", "rain", "snow", "sun")
STATION_ID = "seattle"

station = Entity("station", join_keys=("station_id",), description="a weather station")

seattle_weather = RawSource(
    name="seattle_weather",
    # Physical bounds, generous on purpose: they catch unit mistakes and corrupt rows, not unusual weather.
    schema=(
        Field("date", ValueType.TIMESTAMP),
        Field("precipitation", ValueType.FLOAT64, minimum=0.0, maximum=500.0),
        Field("temp_max", ValueType.FLOAT64, minimum=-40.0, maximum=50.0),
        Field("temp_min", ValueType.FLOAT64, minimum=-50.0, maximum=45.0),
        Field("wind", ValueType.FLOAT64, minimum=0.0, maximum=60.0),
        Field("weather", ValueType.STRING, allowed=WEATHER),
    ),
    timestamp_field="date",
    unique_keys=("date",),
    description="Seattle daily weather 2012-2015 as shipped by vega_datasets",
)


def _daily_base(raw: pd.DataFrame) -> pd.DataFrame:
    frame = raw.sort_values("date", kind="stable").reset_index(drop=True)
    out = pd.DataFrame({"station_id": STATION_ID, EVENT_TIMESTAMP: pd.to_datetime(frame["date"], utc=True)})
    return pd.concat([out, frame.drop(columns=["date"])], axis=1)


@transformation("seattle_daily_weather", version=1)
def daily_weather_rule(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per station-day: the observations and the day's temperature range."""
    out = _daily_base(raw)
    out["temp_range"] = out["temp_max"] - out["temp_min"]
    return out


@transformation("seattle_weather_7d", version=1, lookback=timedelta(days=7))
def weather_7d_rule(raw: pd.DataFrame) -> pd.DataFrame:
    """Trailing 7-day aggregates per station, over the days present in the batch.

    The window is time-based (``7D``, the day itself and the six before), so a missing day
    shortens the window instead of shifting it.
    """
    indexed = _daily_base(raw).set_index(EVENT_TIMESTAMP)
    grouped = indexed.groupby("station_id", sort=False)
    rolled = pd.DataFrame(
        {
            "precipitation_7d_sum": grouped["precipitation"].rolling("7D").sum(),
            "temp_max_7d_mean": grouped["temp_max"].rolling("7D").mean(),
            "wind_7d_max": grouped["wind"].rolling("7D").max(),
            "rain_days_7d": grouped["precipitation"].rolling("7D").apply(lambda w: float((w > 0).sum()), raw=True),
            "days_in_window": grouped["precipitation"].rolling("7D").count(),
        }
    ).reset_index()
    rolled["rain_days_7d"] = rolled["rain_days_7d"].astype("int64")
    rolled["days_in_window"] = rolled["days_in_window"].astype("int64")
    return rolled


daily_weather = FeatureView(
    name="daily_weather",
    version=1,
    entities=(station,),
    schema=(
        Field("precipitation", ValueType.FLOAT64, minimum=0.0, maximum=500.0),
        Field("temp_max", ValueType.FLOAT64, minimum=-40.0, maximum=50.0),
        Field("temp_min", ValueType.FLOAT64, minimum=-50.0, maximum=45.0),
        Field("wind", ValueType.FLOAT64, minimum=0.0, maximum=60.0),
        Field("weather", ValueType.STRING, allowed=WEATHER),
        Field("temp_range", ValueType.FLOAT64),
    ),
    ttl=timedelta(days=2),
    source=seattle_weather.name,
    transformation=daily_weather_rule,
    description="the day's observations",
)

weather_7d = FeatureView(
    name="weather_7d",
    version=1,
    entities=(station,),
    schema=(
        Field("precipitation_7d_sum", ValueType.FLOAT64),
        Field("temp_max_7d_mean", ValueType.FLOAT64),
        Field("wind_7d_max", ValueType.FLOAT64),
        Field("rain_days_7d", ValueType.INT64),
        Field("days_in_window", ValueType.INT64),
    ),
    ttl=timedelta(days=2),
    source=seattle_weather.name,
    transformation=weather_7d_rule,
    description="trailing 7-day aggregates",
)

weather_model = ModelSpec(
    name="seattle-weather",
    task=Task.CLASSIFICATION,
    features=("precipitation", "temp_max", "temp_min", "wind"),
    label="weather",
    estimator=RandomForestClassifier,
    params={"n_estimators": 100, "min_samples_leaf": 3, "n_jobs": 1},
    # The daily_weather view holds the four features and the label.
    feature_store=FeatureStoreInputs(views=("daily_weather:v1",), label_view="daily_weather:v1"),
    gate=QualityGate(primary_metric="macro_f1", floors={"accuracy": 0.6}),
    search_space=SearchSpace(params={"n_estimators": (50, 100, 200), "min_samples_leaf": (1, 3, 5)}),
    # Every retrain reads all history plus the labelled feedback (served predictions joined with their ground
    # truth): the weather of 2012-2015 stays relevant, and the new regime's rows join it as they are labelled.
    training_window=TrainingWindow(days=None, feedback=True),
    # The raw table's time column, for training on a table as shipped (`mlops train --source`).
    timestamp="date",
)

project = Project(
    name="seattle_weather",
    description="Daily weather category of one station from the day's observations",
    sources=(seattle_weather,),
    feature_views=(daily_weather, weather_7d),
    models=(weather_model,),
    # Later traffic, 8 degrees warmer: the climate the model was not trained on.
    demo=DemoScenario(
        source="seattle_weather",
        data="data/seattle-weather.csv",
        traffic_from="2014-06-01",
        shift={"temp_max": 8.0, "temp_min": 8.0},
    ),
)
