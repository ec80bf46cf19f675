"""Pure core: validation, split, training, artifacts, request validation. No AWS."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from vega_datasets import local_data

from functions.registry.artifact import load_verified_model, serialize_model
from functions.serving.signature import ModelSignature, records_to_matrix
from functions.shared.errors import ArtifactIntegrityError, DataValidationError, InvalidRequestError
from functions.training.dataset import validate_training_frame
from functions.training.fit import evaluate_model, time_based_split, train_model
from tests.projects import seattle

SEATTLE_WEATHER = seattle().model("seattle-weather")

SIGNATURE = ModelSignature.from_spec(SEATTLE_WEATHER)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return validate_training_frame(local_data.seattle_weather(), SEATTLE_WEATHER)


def test_split_is_by_time_with_the_latest_rows_held_out(frame: pd.DataFrame) -> None:
    split = time_based_split(frame, SEATTLE_WEATHER)
    assert len(split.holdout) == round(len(frame) * 0.2)
    assert split.train["date"].max() < split.holdout["date"].min()


def test_same_data_and_seed_give_identical_artifact_bytes(frame: pd.DataFrame) -> None:
    split = time_based_split(frame, SEATTLE_WEATHER)
    first = serialize_model(train_model(split.train, SEATTLE_WEATHER))
    second = serialize_model(train_model(split.train, SEATTLE_WEATHER))
    assert first.sha256 == second.sha256


def test_evaluation_reports_accuracy_and_per_class_f1(frame: pd.DataFrame) -> None:
    split = time_based_split(frame, SEATTLE_WEATHER)
    evaluation = evaluate_model(train_model(split.train, SEATTLE_WEATHER), split.holdout, SEATTLE_WEATHER)
    assert 0.6 < evaluation.quality["accuracy"] <= 1.0
    assert set(evaluation.per_class_f1) == set(SEATTLE_WEATHER.labels)
    assert evaluation.holdout_rows == len(split.holdout)


def test_tampered_artifact_is_refused_before_unpickling(frame: pd.DataFrame) -> None:
    artifact = serialize_model(train_model(frame.head(200), SEATTLE_WEATHER))
    tampered = artifact.data[:-1] + bytes([artifact.data[-1] ^ 1])
    with pytest.raises(ArtifactIntegrityError, match="does not match"):
        load_verified_model(tampered, artifact.sha256)
    assert load_verified_model(artifact.data, artifact.sha256) is not None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["temp_min"]), "missing columns: temp_min"),
        (lambda f: f.head(10), "10 rows"),
        (lambda f: f.assign(wind=f["wind"].where(f.index != 3)), "'wind': 1 null"),
        (lambda f: f.assign(temp_max=f["temp_max"].where(f.index != 5, 99.0)), "'temp_max': 1 values outside"),
        (lambda f: f.assign(weather=f["weather"].where(f.index != 7, "hail")), "unknown labels \\['hail'\\]"),
        (lambda f: f.assign(weather="sun"), "a single class"),
    ],
)
def test_bad_training_data_is_rejected_naming_the_problem(mutate: object, message: str) -> None:
    raw = local_data.seattle_weather()
    with pytest.raises(DataValidationError, match=message):
        validate_training_frame(mutate(raw), SEATTLE_WEATHER)  # type: ignore[operator]


GOOD = {"precipitation": 0.0, "temp_max": 10.0, "temp_min": 2.0, "wind": 3}


def test_records_become_a_matrix_in_signature_order() -> None:
    matrix = records_to_matrix([GOOD, {**GOOD, "wind": 4.5}], SIGNATURE, max_records=10)
    assert matrix.tolist() == [[0.0, 10.0, 2.0, 3.0], [0.0, 10.0, 2.0, 4.5]]


@pytest.mark.parametrize(
    ("records", "status", "message"),
    [
        ({"a": 1}, 400, "must be a list"),
        ([], 422, "empty"),
        ([GOOD] * 11, 413, "limit is 10"),
        ([GOOD, 3], 400, "records\\[1\\] must be an object"),
        ([{**GOOD, "wind": None}], 400, "records\\[0\\].wind: expected a number, got NoneType"),
        ([{**GOOD, "wind": math.inf}], 400, "records\\[0\\].wind: must be finite"),
        ([{**GOOD, "x": 1}], 400, "unknown field 'x'"),
    ],
)
def test_bad_records_name_index_and_field(records: object, status: int, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message) as caught:
        records_to_matrix(records, SIGNATURE, max_records=10)
    assert caught.value.status == status


def test_signature_round_trips_through_its_dict_form() -> None:
    assert ModelSignature.from_dict(SIGNATURE.to_dict()) == SIGNATURE


def test_signature_comes_from_the_specs_resolved_inputs() -> None:
    # The four features are typed and bounded by the daily_weather view that provides them
    assert [(f.name, f.dtype) for f in SIGNATURE.features] == [(name, "float") for name in SEATTLE_WEATHER.features]
    assert (SIGNATURE.features[0].minimum, SIGNATURE.features[0].maximum) == (0.0, 500.0)
    assert SIGNATURE.labels == ("drizzle", "fog", "rain", "snow", "sun")
    assert SIGNATURE.task == "classification"


def test_training_set_parquet_round_trip_keeps_types(frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    again = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    assert str(again["date"].dtype).startswith("datetime64")
    assert np.array_equal(again["wind"].to_numpy(), frame["wind"].to_numpy())
