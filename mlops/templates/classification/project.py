"""${project_name}: classify a machine's daily condition from its sensor readings.

Scaffolded by ``mlops init``; the sample data (``data/sensor_readings.csv``) is synthetic.
Replace it with your own and edit the definitions below; ``tests/test_project.py`` checks
they still load, produce their views and train a model that passes its gate.

Entity ``machine`` (join key ``machine_id``; the sample has one machine, ``press-01``). Raw
source ``sensor_readings``: one row per machine and day with the bearing temperature (degC),
the vibration velocity (mm/s RMS), the hours run and the condition the day's inspection
recorded. Two views, each produced by a versioned rule:

- ``machine_daily`` v1: the day's readings and the recorded condition (the label);
- ``machine_7d`` v1: trailing 7-day vibration and temperature aggregates (wear lingers for
  days, so the week's vibration adds to the day's).

A change to what a rule computes is a new version of its rule and view (``version=2``), never
an edit of version 1: stored features and trained models record the versions they used.
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
    ValueType,
    transformation,
)

CONDITIONS = ("normal", "worn", "fault")

machine = Entity("machine", join_keys=("machine_id",), description="a monitored machine")

sensor_readings = RawSource(
    name="sensor_readings",
    # Physical bounds, generous on purpose: they catch unit mistakes and broken sensors, not unusual days.
    schema=(
        Field("date", ValueType.TIMESTAMP),
        Field("machine_id", ValueType.STRING),
        Field("temperature", ValueType.FLOAT64, minimum=-20.0, maximum=150.0, description="bearing, degC"),
        Field("vibration", ValueType.FLOAT64, minimum=0.0, maximum=50.0, description="velocity, mm/s RMS"),
        Field("runtime_hours", ValueType.FLOAT64, minimum=0.0, maximum=24.0, description="hours run that day"),
        Field("condition", ValueType.STRING, allowed=CONDITIONS, description="recorded by the day's inspection"),
    ),
    timestamp_field="date",
    unique_keys=("machine_id", "date"),
    description="daily sensor readings and inspection results per machine",
)


def _by_day(raw: pd.DataFrame) -> pd.DataFrame:
    """Validated raw rows in time order, the raw ``date`` as the rows' ``event_timestamp``."""
    frame = raw.sort_values("date", kind="stable").reset_index(drop=True)
    return frame.rename(columns={"date": EVENT_TIMESTAMP})


@transformation("machine_daily", version=1)
def machine_daily_rule(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per machine-day: the readings and the recorded condition, as they came."""
    return _by_day(raw)


@transformation("machine_7d", version=1, lookback=timedelta(days=7))
def machine_7d_rule(raw: pd.DataFrame) -> pd.DataFrame:
    """Trailing 7-day aggregates per machine, over the days present in the batch.

    The window is time-based (``7D``: the day itself and the six before), so a missing day
    shortens the window instead of shifting it; ``days_in_window`` says how many days it had.
    """
    grouped = _by_day(raw).set_index(EVENT_TIMESTAMP).groupby("machine_id", sort=False)
    rolled = pd.DataFrame(
        {
            "vibration_7d_mean": grouped["vibration"].rolling("7D").mean(),
            "vibration_7d_max": grouped["vibration"].rolling("7D").max(),
            "temperature_7d_mean": grouped["temperature"].rolling("7D").mean(),
            "days_in_window": grouped["vibration"].rolling("7D").count(),
        }
    ).reset_index()
    rolled["days_in_window"] = rolled["days_in_window"].astype("int64")
    return rolled


machine_daily = FeatureView(
    name="machine_daily",
    version=1,
    entities=(machine,),
    schema=(
        Field("temperature", ValueType.FLOAT64, minimum=-20.0, maximum=150.0),
        Field("vibration", ValueType.FLOAT64, minimum=0.0, maximum=50.0),
        Field("runtime_hours", ValueType.FLOAT64, minimum=0.0, maximum=24.0),
        Field("condition", ValueType.STRING, allowed=CONDITIONS),
    ),
    # A reading older than two days is no reading: training examples and online reads get nulls.
    ttl=timedelta(days=2),
    source=sensor_readings.name,
    transformation=machine_daily_rule,
    description="the day's readings and inspection result",
)

machine_7d = FeatureView(
    name="machine_7d",
    version=1,
    entities=(machine,),
    schema=(
        Field("vibration_7d_mean", ValueType.FLOAT64),
        Field("vibration_7d_max", ValueType.FLOAT64),
        Field("temperature_7d_mean", ValueType.FLOAT64),
        Field("days_in_window", ValueType.INT64),
    ),
    ttl=timedelta(days=2),
    source=sensor_readings.name,
    transformation=machine_7d_rule,
    description="trailing 7-day aggregates",
)

condition_model = ModelSpec(
    name="${model_name}",
    task=Task.CLASSIFICATION,
    features=("temperature", "vibration", "runtime_hours", "vibration_7d_mean"),
    # The classes are the label field's allowed values (CONDITIONS).
    label="condition",
    estimator=RandomForestClassifier,
    params={"n_estimators": 100, "min_samples_leaf": 3, "n_jobs": 1},
    # Training examples are the label view's events; each view's features are joined to them point-in-time.
    feature_store=FeatureStoreInputs(views=("machine_daily:v1", "machine_7d:v1"), label_view="machine_daily:v1"),
    # Registered as approvable only with holdout accuracy >= 0.6 (guessing gets about 0.33), and a
    # retrained model must not be worse than the champion on macro F1.
    gate=QualityGate(primary_metric="macro_f1", floors={"accuracy": 0.6}),
    search_space=SearchSpace(params={"n_estimators": (50, 100, 200), "min_samples_leaf": (1, 3, 5)}),
)

project = Project(
    name="${project_name}",
    description="A machine's daily condition from its sensor readings",
    sources=(sensor_readings,),
    feature_views=(machine_daily, machine_7d),
    models=(condition_model,),
    # `mlops demo`: the sample data is backfilled; the days from 2024 on are sent as prediction
    # traffic with 3 mm/s more vibration (a bearing going bad), which the monitor finds as drift.
    demo=DemoScenario(
        source="sensor_readings",
        data="data/sensor_readings.csv",
        traffic_from="2024-01-01",
        shift={"vibration": 3.0, "vibration_7d_mean": 3.0},
    ),
)
