"""Monthly closing prices of five companies (2000-2010, as shipped by vega_datasets): a regression.

Entity ``company`` (join key ``symbol``: AAPL, AMZN, GOOG, IBM, MSFT), so every row is one
company in one month. Raw source ``monthly_prices``: symbol, month, closing price. One view,
``price_history`` v1, produced by a windowed rule: the company's prices of the three months
before (a 100-day lookback covers them across partitions), its 3-month return, and ``ticker``,
the symbol as a categorical model input (a join key itself is never a feature).

The model nowcasts this month's price from the last three: a ``Pipeline`` that one-hot encodes
the ticker and scales the lags before a ridge regression, gated on holdout RMSE.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

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

SYMBOLS = ("AAPL", "AMZN", "GOOG", "IBM", "MSFT")
LAGS = ("price_lag_1", "price_lag_2", "price_lag_3")

company = Entity("company", join_keys=("symbol",), description="a listed company")

monthly_prices = RawSource(
    name="monthly_prices",
    schema=(
        Field("symbol", ValueType.STRING, allowed=SYMBOLS),
        Field("date", ValueType.TIMESTAMP),
        Field("price", ValueType.FLOAT64, minimum=0.0, maximum=10_000.0),
    ),
    timestamp_field="date",
    unique_keys=("symbol", "date"),
    description="monthly closing prices of five companies, 2000-2010, as shipped by vega_datasets",
)


@transformation("price_history", version=1, lookback=timedelta(days=100))
def price_history_rule(raw: pd.DataFrame) -> pd.DataFrame:
    """Per company and month: the three previous months' prices and the 3-month return.

    A month without three earlier months in the data has no row (nothing to learn from yet).
    """
    frame = raw.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    prices = frame.groupby("symbol", sort=False)["price"]
    out = pd.DataFrame(
        {
            "symbol": frame["symbol"],
            EVENT_TIMESTAMP: pd.to_datetime(frame["date"], utc=True),
            "ticker": frame["symbol"],
            "price": frame["price"],
            **{lag: prices.shift(k) for k, lag in enumerate(LAGS, start=1)},
        }
    )
    out["return_3m"] = out["price_lag_1"] / out["price_lag_3"] - 1.0
    return out.dropna(subset=[*LAGS]).reset_index(drop=True)


price_history = FeatureView(
    name="price_history",
    version=1,
    entities=(company,),
    schema=(
        Field("ticker", ValueType.STRING, allowed=SYMBOLS),
        Field("price", ValueType.FLOAT64, minimum=0.0, maximum=10_000.0),
        *(Field(lag, ValueType.FLOAT64, minimum=0.0, maximum=10_000.0) for lag in LAGS),
        Field("return_3m", ValueType.FLOAT64),
    ),
    # A month's features stay valid until the next month's close.
    ttl=timedelta(days=45),
    source=monthly_prices.name,
    transformation=price_history_rule,
    description="the last three monthly closes and the 3-month return",
)


def price_model(alpha: float = 1.0) -> Pipeline:
    """One-hot ticker, standardized lags, ridge regression."""
    encode = ColumnTransformer(
        [
            ("ticker", OneHotEncoder(handle_unknown="ignore"), ["ticker"]),
            ("lags", StandardScaler(), [*LAGS, "return_3m"]),
        ]
    )
    return Pipeline([("encode", encode), ("ridge", Ridge(alpha=alpha))])


nowcast = ModelSpec(
    name="stock-price",
    task=Task.REGRESSION,
    features=("ticker", *LAGS, "return_3m"),
    label="price",
    estimator=price_model,
    params={"alpha": 1.0},
    feature_store=FeatureStoreInputs(views=("price_history:v1",), label_view="price_history:v1"),
    # The holdout is 2008-2010 (the crash included): "last month's price" alone scores an RMSE of about 21.
    gate=QualityGate(primary_metric="rmse", floors={"rmse": 30.0, "r2": 0.8}),
    search_space=SearchSpace(params={"alpha": (0.1, 1.0, 10.0)}),
    # All months from 2000 on (the shipped history starts there), plus the labelled feedback of served predictions.
    training_window=TrainingWindow(since="2000-01-01"),
)

project = Project(
    name="stocks",
    description="This month's closing price of five companies from the three months before",
    sources=(monthly_prices,),
    feature_views=(price_history,),
    models=(nowcast,),
    # Later months with every lag 60 dollars higher: prices the model has never seen.
    demo=DemoScenario(
        source="monthly_prices",
        data="data/stocks.csv",
        traffic_from="2006-09-01",
        shift={"price_lag_1": 60.0, "price_lag_2": 60.0, "price_lag_3": 60.0},
    ),
)
