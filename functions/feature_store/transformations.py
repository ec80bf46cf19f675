"""Transformation and feature-engineering rules as versioned code (paper steps 6-7, 10-11).

A rule is a pure function from validated raw rows to feature rows of one
view: join keys, ``event_timestamp`` and the view's features. Rules are
registered under a name and a version; a feature view names the rule it is
produced by (``TransformationRef``), and the offline write manifest and the
training-set manifest record that name and version. Changing what a rule
computes means registering a new version, never editing an old one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from functions.feature_store.definitions import EVENT_TIMESTAMP, FeatureView, TransformationRef, ValueType
from functions.shared.errors import ConfigurationError, DataValidationError

Rule = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class RegisteredRule:
    """A rule and how far back in event time an output row can look (zero: row by row)."""

    fn: Rule
    lookback: timedelta


_RULES: dict[tuple[str, int], RegisteredRule] = {}


def transformation(name: str, version: int, *, lookback: timedelta = timedelta(0)) -> Callable[[Rule], Rule]:
    """Register ``fn`` as rule ``name`` version ``version`` (each pair once).

    ``lookback``: a windowed rule's output row at event time ``t`` may depend on raw rows
    in ``[t - lookback, t]``. A partitioned run gives each partition, as context, the other
    partitions' rows in that span before the partition's first row; a windowed rule keeps
    the raw row's timestamp as its ``event_timestamp`` (so context rows can be told apart).
    """
    if lookback < timedelta(0):
        raise ConfigurationError(f"transformation {name}@v{version}: lookback must not be negative")

    def register(fn: Rule) -> Rule:
        if (name, version) in _RULES:
            raise ConfigurationError(f"transformation {name}@v{version} is registered twice")
        _RULES[(name, version)] = RegisteredRule(fn, lookback)
        return fn

    return register


def _registered(ref: TransformationRef) -> RegisteredRule:
    try:
        return _RULES[(ref.name, ref.version)]
    except KeyError:
        known = ", ".join(f"{n}@v{v}" for n, v in sorted(_RULES))
        raise ConfigurationError(f"no transformation {ref}; registered: {known}") from None


def rule(ref: TransformationRef) -> Rule:
    return _registered(ref).fn


def lookback(ref: TransformationRef) -> timedelta:
    """How far back in event time the rule ``ref`` reads (zero for row-by-row rules)."""
    return _registered(ref).lookback


def apply_transformation(view: FeatureView, raw: pd.DataFrame) -> pd.DataFrame:
    """Run the view's rule on validated raw rows and check its output matches the view's schema."""
    produced = rule(view.transformation)(raw)
    expected = [*view.join_keys, EVENT_TIMESTAMP, *view.feature_names]
    missing = [c for c in expected if c not in produced.columns]
    if missing:
        raise DataValidationError(f"transformation {view.transformation} for {view.qualified_name} lacks {missing}")
    out = produced[expected].reset_index(drop=True)
    for key in view.join_keys:
        out[key] = out[key].astype("string")
    out[EVENT_TIMESTAMP] = pd.to_datetime(out[EVENT_TIMESTAMP], utc=True)
    for spec in view.schema:
        if spec.dtype is ValueType.FLOAT64:
            out[spec.name] = out[spec.name].astype("float64")
        elif spec.dtype is ValueType.INT64:
            out[spec.name] = out[spec.name].astype("Int64")
        elif spec.dtype is ValueType.STRING:
            out[spec.name] = out[spec.name].astype("string")
        elif spec.dtype is ValueType.BOOL:
            out[spec.name] = out[spec.name].astype("boolean")
        else:
            out[spec.name] = pd.to_datetime(out[spec.name], utc=True)
        if not spec.nullable and out[spec.name].isna().any():
            raise DataValidationError(
                f"transformation {view.transformation} produced nulls in required feature {spec.name!r}"
            )
    return out


# -- the shipped dataset's rules (seattle-weather, see catalog.py) ---------------------
STATION = "seattle"


def _daily_base(raw: pd.DataFrame) -> pd.DataFrame:
    frame = raw.sort_values("date", kind="stable").reset_index(drop=True)
    out = pd.DataFrame({"station_id": STATION, EVENT_TIMESTAMP: pd.to_datetime(frame["date"], utc=True)})
    return pd.concat([out, frame.drop(columns=["date"])], axis=1)


@transformation("seattle_daily_weather", version=1)
def seattle_daily_weather(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per station-day: the observations and the day's temperature range."""
    out = _daily_base(raw)
    out["temp_range"] = out["temp_max"] - out["temp_min"]
    return out


@transformation("seattle_weather_7d", version=1, lookback=timedelta(days=7))
def seattle_weather_7d(raw: pd.DataFrame) -> pd.DataFrame:
    """Trailing 7-day aggregates per station, over the days present in the batch.

    The window is time-based (``7D``, the day itself and the six before), so
    a missing day shortens the window instead of shifting it.
    """
    base = _daily_base(raw)
    indexed = base.set_index(EVENT_TIMESTAMP)
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
