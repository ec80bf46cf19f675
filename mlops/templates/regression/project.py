"""${project_name}: forecast how many meals each staff canteen serves on a working day.

Scaffolded by ``mlops init``; the sample data (``data/canteen_days.csv``) is synthetic.
Replace it with your own and edit the definitions below; ``tests/test_project.py`` checks
they still load, produce their views and train a model that passes its gate.

Entity ``site`` (join key ``site_id``; the sample has three canteens: ``north``, ``central``
and ``south``, each with its own staff and habits). Raw source ``canteen_days``: one row per
site and working day with the day's main dish, the outdoor temperature at noon (degC), the
staff badged in and the meals served. One view, produced by a versioned rule:

- ``site_daily`` v1: the day's menu, temperature and staff, the site as a category (join
  keys are not model inputs) and the meals served (the label).

A change to what a rule computes is a new version of its rule and view (``version=2``), never
an edit of version 1: stored features and trained models record the versions they used.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

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

SITES = ("north", "central", "south")
MENUS = ("pasta", "curry", "fish", "salad")
# The model's inputs: categories are one-hot encoded, numbers passed through as they are.
CATEGORIES = ("site", "menu")
NUMBERS = ("staff_on_site", "temperature")

site = Entity("site", join_keys=("site_id",), description="a staff canteen")

canteen_days = RawSource(
    name="canteen_days",
    # Bounds generous on purpose: they catch unit mistakes and broken exports, not unusual days.
    schema=(
        Field("date", ValueType.TIMESTAMP),
        Field("site_id", ValueType.STRING, allowed=SITES),
        Field("menu", ValueType.STRING, allowed=MENUS, description="the day's main dish"),
        Field("temperature", ValueType.FLOAT64, minimum=-30.0, maximum=45.0, description="outdoors at noon, degC"),
        Field("staff_on_site", ValueType.INT64, minimum=0, maximum=10_000, description="people badged in"),
        Field("meals", ValueType.INT64, minimum=0, maximum=10_000, description="meals served"),
    ),
    timestamp_field="date",
    unique_keys=("site_id", "date"),
    description="one row per canteen and working day",
)


@transformation("site_daily", version=1)
def site_daily_rule(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per site and working day: the raw columns, and the site as a model input."""
    out = raw.sort_values(["date", "site_id"], kind="stable").reset_index(drop=True)
    out = out.rename(columns={"date": EVENT_TIMESTAMP})
    out["site"] = out["site_id"]
    return out


site_daily = FeatureView(
    name="site_daily",
    version=1,
    entities=(site,),
    schema=(
        Field("site", ValueType.STRING, allowed=SITES),
        Field("menu", ValueType.STRING, allowed=MENUS),
        Field("temperature", ValueType.FLOAT64, minimum=-30.0, maximum=45.0),
        Field("staff_on_site", ValueType.INT64, minimum=0, maximum=10_000),
        Field("meals", ValueType.INT64, minimum=0, maximum=10_000),
    ),
    # Yesterday's menu and headcount are not today's: after two days, training examples and
    # online reads get nulls.
    ttl=timedelta(days=2),
    source=canteen_days.name,
    transformation=site_daily_rule,
    description="the day's menu, temperature, headcount and meals served",
)


def meals_regressor(**params: Any) -> Pipeline:
    """One-hot encode the categories, pass the numbers through, then gradient-boosted trees.

    The model gets a DataFrame of its features (it has string inputs), so the
    ``ColumnTransformer`` picks columns by name. ``params`` go to the regressor; its
    ``random_state`` is set from the spec's seed.
    """
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CATEGORIES)),
            ("numbers", "passthrough", list(NUMBERS)),
        ]
    )
    return Pipeline([("encode", encode), ("regress", GradientBoostingRegressor(**params))])


meals_model = ModelSpec(
    name="${model_name}",
    task=Task.REGRESSION,
    features=(*CATEGORIES, *NUMBERS),
    label="meals",
    estimator=meals_regressor,
    params={"n_estimators": 200, "max_depth": 3, "learning_rate": 0.05},
    # Training examples are the label view's events (one per site and day).
    feature_store=FeatureStoreInputs(views=("site_daily:v1",), label_view="site_daily:v1"),
    # Registered as approvable only with a holdout RMSE of at most 40 meals (predicting the
    # average day misses by about 90), and a retrained model must not be worse than the champion.
    gate=QualityGate(primary_metric="rmse", floors={"rmse": 40.0}),
    search_space=SearchSpace(params={"n_estimators": (100, 200, 400), "max_depth": (2, 3, 4)}),
)

project = Project(
    name="${project_name}",
    description="Meals served per canteen and working day, from the menu, the temperature and the headcount",
    sources=(canteen_days,),
    feature_views=(site_daily,),
    models=(meals_model,),
    # `mlops demo`: the sample data is backfilled; the days from April 2024 on are sent as
    # prediction traffic with 250 more people on site and 8 degC warmer (a new office floor
    # opened in a hot summer), which the monitor finds as drift.
    demo=DemoScenario(
        source="canteen_days",
        data="data/canteen_days.csv",
        traffic_from="2024-04-01",
        shift={"staff_on_site": 250, "temperature": 8.0},
    ),
)
