"""ONNX export parity with scikit-learn, and integrity checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from vega_datasets import local_data

from functions.registry.onnx_model import OnnxClassifier, OnnxExport, OnnxModel, OnnxUnsupported, export_onnx
from functions.serving.signature import FeatureSignature, ModelSignature
from functions.shared.errors import ArtifactIntegrityError
from functions.training.dataset import validate_training_frame
from functions.training.fit import model_input, time_based_split, train_model
from tests.projects import seattle

SEATTLE_WEATHER = seattle().model("seattle-weather")


@pytest.fixture(scope="module")
def split():  # type: ignore[no-untyped-def]
    return time_based_split(validate_training_frame(local_data.seattle_weather(), SEATTLE_WEATHER), SEATTLE_WEATHER)


def test_random_forest_onnx_matches_scikit_learn_on_the_holdout(split) -> None:  # type: ignore[no-untyped-def]
    model = train_model(split.train, SEATTLE_WEATHER)
    exported = export_onnx(model, len(SEATTLE_WEATHER.features))
    assert isinstance(exported, OnnxExport)
    onnx = OnnxClassifier(exported.data, exported.sha256)
    holdout = model_input(split.holdout, SEATTLE_WEATHER)
    assert list(onnx.classes_) == list(model.classes_)
    np.testing.assert_allclose(onnx.predict_proba(holdout), model.predict_proba(holdout), atol=1e-5)
    agreement = float(np.mean(onnx.predict(holdout) == model.predict(holdout)))
    assert agreement >= 0.995  # float32 inputs may flip an exact tie, nothing more


def test_linear_model_converts_too(split) -> None:  # type: ignore[no-untyped-def]
    features = model_input(split.train, SEATTLE_WEATHER)
    model = LogisticRegression(max_iter=500).fit(features, split.train["weather"])
    exported = export_onnx(model, features.shape[1])
    assert isinstance(exported, OnnxExport)
    onnx = OnnxClassifier(exported.data, exported.sha256)
    np.testing.assert_allclose(onnx.predict_proba(features[:50]), model.predict_proba(features[:50]), atol=1e-4)


def test_unconvertible_model_says_why(split) -> None:  # type: ignore[no-untyped-def]
    features = model_input(split.train, SEATTLE_WEATHER)
    model = NearestCentroid().fit(features, split.train["weather"])
    result = export_onnx(model, features.shape[1])
    assert isinstance(result, OnnxUnsupported)
    assert "NearestCentroid" in result.reason


def test_tampered_onnx_artifact_is_refused(split) -> None:  # type: ignore[no-untyped-def]
    exported = export_onnx(train_model(split.train.head(300), SEATTLE_WEATHER), 4)
    assert isinstance(exported, OnnxExport)
    with pytest.raises(ArtifactIntegrityError):
        OnnxClassifier(exported.data + b"x", exported.sha256)


# -- models with a string input: one ONNX input per column ------------------------------------------------------
def _mixed_frame(rows: int = 600, seed: int = 3) -> pd.DataFrame:
    """A string column that matters (its own level per site) and two numbers."""
    rng = np.random.default_rng(seed)
    site = rng.choice(["north", "central", "south"], rows)
    staff = rng.integers(200, 1500, rows)
    temperature = rng.normal(12.0, 6.0, rows).round(1)
    level = pd.Series(site).map({"north": 0.45, "central": 0.32, "south": 0.62}).to_numpy()
    meals = staff * level + 2.0 * temperature + rng.normal(0.0, 10.0, rows)
    return pd.DataFrame({"site": site, "staff": staff, "temperature": temperature, "meals": meals})


MIXED = ModelSignature(
    features=(
        FeatureSignature("site", "string", allowed=("north", "central", "south")),
        FeatureSignature("staff", "int", 0.0, 10_000.0),
        FeatureSignature("temperature", "float", -30.0, 45.0),
    ),
    labels=(),
    task="regression",
)


def _pipeline(estimator: object) -> Pipeline:
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["site"]),
            ("numbers", "passthrough", ["staff", "temperature"]),
        ]
    )
    return Pipeline([("encode", encode), ("model", estimator)])


def test_pipeline_regressor_with_a_string_column_matches_scikit_learn() -> None:
    # Given a one-hot site and passed-through numbers before gradient-boosted trees
    frame = _mixed_frame()
    train, holdout = frame.iloc[:450], frame.iloc[450:]
    features = ["site", "staff", "temperature"]
    model = _pipeline(GradientBoostingRegressor(n_estimators=100, random_state=0)).fit(train[features], train["meals"])
    # When it is exported with one input per column
    exported = export_onnx(model, MIXED, sample=train[features])
    assert isinstance(exported, OnnxExport)
    onnx = OnnxModel(exported.data, exported.sha256)
    # Then it takes the columns by name (a dict of arrays, as serving sends them) and answers values as scikit-learn
    assert onnx.input_names == features and not onnx.is_classifier
    columns = {name: holdout[name].to_numpy() for name in features}
    expected = model.predict(holdout[features])
    np.testing.assert_allclose(onnx.predict(columns), expected, rtol=1e-5, atol=1e-3)
    # and a site it never saw is served too (all-zero one-hot), like scikit-learn's handle_unknown="ignore"
    unseen = {"site": np.array(["harbour"], dtype=object), "staff": np.array([800]), "temperature": np.array([15.0])}
    np.testing.assert_allclose(onnx.predict(unseen), model.predict(pd.DataFrame(unseen)), rtol=1e-5, atol=1e-3)


def test_pipeline_classifier_with_a_string_column_matches_scikit_learn() -> None:
    frame = _mixed_frame()
    frame["busy"] = np.where(frame["meals"] > frame["meals"].median(), "busy", "quiet")
    train, holdout = frame.iloc[:450], frame.iloc[450:]
    features = ["site", "staff", "temperature"]
    model = _pipeline(RandomForestClassifier(n_estimators=30, random_state=0)).fit(train[features], train["busy"])
    signature = ModelSignature(features=MIXED.features, labels=("busy", "quiet"), task="classification")
    exported = export_onnx(model, signature, sample=train[features])
    assert isinstance(exported, OnnxExport)
    onnx = OnnxModel(exported.data, exported.sha256)
    assert list(onnx.classes_) == list(model.classes_)
    np.testing.assert_allclose(onnx.predict_proba(holdout[features]), model.predict_proba(holdout[features]), atol=1e-5)
    assert list(onnx.predict(holdout[features])) == list(model.predict(holdout[features]))


def test_per_column_export_that_predicts_differently_falls_back_to_scikit_learn() -> None:
    # Given a pipeline that scales a number varying far below float32's resolution (ONNX computes in float32)
    rows = 400
    x = 1.0 + np.arange(rows) * 1e-10
    frame = pd.DataFrame({"site": np.where(np.arange(rows) % 2 == 0, "north", "south"), "x": x})
    band = np.where(x > np.median(x), "high", "low")
    encode = ColumnTransformer(
        [("c", OneHotEncoder(handle_unknown="ignore"), ["site"]), ("n", StandardScaler(), ["x"])]
    )
    model = Pipeline([("encode", encode), ("model", LogisticRegression())]).fit(frame, band)
    signature = ModelSignature(
        features=(FeatureSignature("site", "string"), FeatureSignature("x", "float")), labels=("high", "low")
    )
    # When it is exported, the converted graph is checked against scikit-learn on the training rows
    result = export_onnx(model, signature, sample=frame)
    # Then it is refused, with the reason, and scikit-learn serves it
    assert isinstance(result, OnnxUnsupported)
    assert "Pipeline with per-column inputs: onnxruntime's predictions differ" in result.reason


def test_pipeline_skl2onnx_cannot_convert_says_why() -> None:
    frame = _mixed_frame()
    encode = ColumnTransformer(
        [("c", OneHotEncoder(handle_unknown="ignore"), ["site"]), ("n", "passthrough", ["staff"])]
    )
    busy = np.where(frame["staff"] > 800, "north", "south")
    model = Pipeline([("encode", encode), ("model", NearestCentroid())]).fit(frame[["site", "staff"]], busy)
    signature = ModelSignature(
        features=(FeatureSignature("site", "string"), FeatureSignature("staff", "int")), labels=("north", "south")
    )
    result = export_onnx(model, signature, sample=frame[["site", "staff"]])
    assert isinstance(result, OnnxUnsupported)
    assert result.reason.startswith("Pipeline with per-column inputs:")


def test_all_numeric_classifier_export_is_the_float_tensor_form_byte_for_byte(split) -> None:  # type: ignore[no-untyped-def]
    model = train_model(split.train.head(300), SEATTLE_WEATHER)
    by_width = export_onnx(model, len(SEATTLE_WEATHER.features))
    by_signature = export_onnx(model, ModelSignature.from_spec(SEATTLE_WEATHER))
    assert isinstance(by_width, OnnxExport) and isinstance(by_signature, OnnxExport)
    assert by_signature.data == by_width.data
    assert OnnxClassifier(by_width.data, by_width.sha256).input_names == ["X"]


def test_all_numeric_regressor_exports_a_float_tensor_without_classes() -> None:
    frame = _mixed_frame()
    numbers = frame[["staff", "temperature"]].to_numpy(dtype=float)
    model = GradientBoostingRegressor(n_estimators=50, random_state=0).fit(numbers, frame["meals"])
    signature = ModelSignature(features=MIXED.features[1:], labels=(), task="regression")
    exported = export_onnx(model, signature)
    assert isinstance(exported, OnnxExport)
    onnx = OnnxModel(exported.data, exported.sha256)
    assert not onnx.is_classifier
    np.testing.assert_allclose(onnx.predict(numbers[:100]), model.predict(numbers[:100]), rtol=1e-5, atol=1e-3)
