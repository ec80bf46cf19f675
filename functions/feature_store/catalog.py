"""The definitions shipped with the toolkit, for the seattle-weather dataset (vega_datasets).

Entity ``station`` (join key ``station_id``; the dataset has one station,
``seattle``). Raw source ``seattle_weather``: one row per day with
precipitation (mm), max/min temperature (degC), wind (m/s) and a weather
category. Two views, each produced by a versioned rule in ``transformations.py``:

- ``daily_weather`` v1: the day's observations plus ``temp_range``;
- ``weather_7d`` v1: trailing 7-day aggregates (rain sum, mean max
  temperature, max wind, rainy days, days present in the window).

Both have a 2-day TTL: a training example (or online read) more than two
days after the last observation gets nulls (EXPIRED online), not stale weather.
"""

from __future__ import annotations

from datetime import timedelta

from functions.feature_store.definitions import (
    Entity,
    FeatureView,
    Field,
    RawSource,
    TransformationRef,
    ValueType,
)
from functions.shared.errors import ConfigurationError

WEATHER_CATEGORIES = ("drizzle", "fog", "rain", "snow", "sun")

STATION = Entity("station", join_keys=("station_id",), description="a weather station")

SEATTLE_WEATHER = RawSource(
    name="seattle_weather",
    schema=(
        Field("date", ValueType.TIMESTAMP),
        Field("precipitation", ValueType.FLOAT64, minimum=0.0, maximum=500.0),
        Field("temp_max", ValueType.FLOAT64, minimum=-40.0, maximum=50.0),
        Field("temp_min", ValueType.FLOAT64, minimum=-50.0, maximum=45.0),
        Field("wind", ValueType.FLOAT64, minimum=0.0, maximum=60.0),
        Field("weather", ValueType.STRING, allowed=WEATHER_CATEGORIES),
    ),
    timestamp_field="date",
    unique_keys=("date",),
    description="Seattle daily weather 2012-2015 as shipped by vega_datasets",
)

DAILY_WEATHER = FeatureView(
    name="daily_weather",
    version=1,
    entities=(STATION,),
    schema=(
        Field("precipitation", ValueType.FLOAT64),
        Field("temp_max", ValueType.FLOAT64),
        Field("temp_min", ValueType.FLOAT64),
        Field("wind", ValueType.FLOAT64),
        Field("weather", ValueType.STRING, allowed=WEATHER_CATEGORIES),
        Field("temp_range", ValueType.FLOAT64),
    ),
    ttl=timedelta(days=2),
    source=SEATTLE_WEATHER.name,
    transformation=TransformationRef("seattle_daily_weather", 1),
    description="the day's observations",
)

WEATHER_7D = FeatureView(
    name="weather_7d",
    version=1,
    entities=(STATION,),
    schema=(
        Field("precipitation_7d_sum", ValueType.FLOAT64),
        Field("temp_max_7d_mean", ValueType.FLOAT64),
        Field("wind_7d_max", ValueType.FLOAT64),
        Field("rain_days_7d", ValueType.INT64),
        Field("days_in_window", ValueType.INT64),
    ),
    ttl=timedelta(days=2),
    source=SEATTLE_WEATHER.name,
    transformation=TransformationRef("seattle_weather_7d", 1),
    description="trailing 7-day aggregates",
)

SOURCES: dict[str, RawSource] = {SEATTLE_WEATHER.name: SEATTLE_WEATHER}
FEATURE_VIEWS: tuple[FeatureView, ...] = (DAILY_WEATHER, WEATHER_7D)


def raw_source(name: str) -> RawSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigurationError(f"no raw source {name!r}; known: {', '.join(sorted(SOURCES))}") from None


def feature_view(name: str, version: int | None = None) -> FeatureView:
    """The view ``name`` at ``version`` (the latest when ``None``)."""
    matches = [v for v in FEATURE_VIEWS if v.name == name and (version is None or v.version == version)]
    if not matches:
        known = ", ".join(v.qualified_name for v in FEATURE_VIEWS)
        raise ConfigurationError(f"no feature view {name!r}{f' v{version}' if version else ''}; known: {known}")
    return max(matches, key=lambda v: v.version)


def view_by_ref(ref: str) -> FeatureView:
    """``name``, ``name:vN`` or ``name:N`` (the latest version when none is given)."""
    name, _, version = ref.partition(":")
    digits = version.lstrip("v")
    if version and not digits.isdigit():
        raise ConfigurationError(f"feature view reference {ref!r}: the version must be vN or N")
    return feature_view(name, int(digits) if version else None)


def views_of_source(source: str) -> tuple[FeatureView, ...]:
    return tuple(v for v in FEATURE_VIEWS if v.source == source)
