"""ONNX export parity with scikit-learn, and integrity checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestCentroid
from vega_datasets import local_data

from functions.registry.onnx_model import OnnxClassifier, OnnxExport, OnnxUnsupported, export_onnx
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
