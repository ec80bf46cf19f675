"""Typed serving: request records per dtype, regression answers, batch rules, and what monitoring makes of them."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from functions.feature_store.transformations import apply_transformation
from functions.monitoring.baseline import DriftBaseline, build_baseline
from functions.monitoring.captures import feature_frame, parse_captures, parse_feedback, predicted_outcomes
from functions.monitoring.drift import DriftPolicy, detect_drift
from functions.monitoring.quality import live_quality
from functions.monitoring.report import render_report
from functions.project import Project, load_project
from functions.registry.onnx_model import OnnxExport, OnnxModel, export_onnx
from functions.serving.batch_scoring import predict_frame
from functions.serving.capture import capture_record
from functions.serving.predictor import ONNX, SKLEARN, Predictor
from functions.serving.signature import FeatureSignature, ModelSignature, records_to_columns
from functions.shared.errors import InvalidRequestError
from functions.training.fit import evaluate_model, model_input, time_based_split, train_model
from functions.training.gate import decide
from mlops.scaffold import scaffold

SIGNATURE = ModelSignature(
    features=(
        FeatureSignature("temperature", "float", -30.0, 45.0),
        FeatureSignature("staff", "int", 0.0, 10_000.0),
        FeatureSignature("site", "string", allowed=("north", "central", "south")),
        FeatureSignature("holiday", "bool"),
    ),
    labels=(),
    task="regression",
)
GOOD = {"temperature": 12.5, "staff": 800, "site": "north", "holiday": False}


def test_records_of_every_dtype_become_typed_columns() -> None:
    records = [
        GOOD,
        # an integral float is an int; an out-of-range number and an unknown category are served (drift's job)
        {"temperature": 99, "staff": 900.0, "site": "harbour", "holiday": True},
    ]
    columns = records_to_columns(records, SIGNATURE, max_records=10)
    assert list(columns) == ["temperature", "staff", "site", "holiday"]
    assert columns["temperature"].dtype == np.float64 and columns["temperature"].tolist() == [12.5, 99.0]
    assert columns["staff"].dtype == np.int64 and columns["staff"].tolist() == [800, 900]
    assert columns["site"].tolist() == ["north", "harbour"]
    assert columns["holiday"].dtype == np.bool_ and columns["holiday"].tolist() == [False, True]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", "warm", "records[1].temperature: expected a number, got str"),
        ("temperature", True, "records[1].temperature: expected a number, got bool"),
        ("temperature", math.inf, "records[1].temperature: must be finite, got inf"),
        # finite in JSON and float64, but infinity in the ONNX model's float32 input
        (
            "temperature",
            -1e39,
            "records[1].temperature: -1e+39 is out of the model's 32-bit float range (at most 3.403e+38 in magnitude)",
        ),
        ("staff", 2.5, "records[1].staff: expected an integer, got 2.5"),
        ("staff", False, "records[1].staff: expected a number, got bool"),
        ("staff", 2**70, "records[1].staff: 1180591620717411303424 is out of the 64-bit integer range"),
        ("site", 3, "records[1].site: expected a string, got int"),
        ("site", None, "records[1].site: expected a string, got NoneType"),
        ("holiday", 0, "records[1].holiday: expected true or false, got int"),
        ("holiday", "false", "records[1].holiday: expected true or false, got str"),
    ],
)
def test_a_value_not_of_its_dtype_is_a_one_line_400_naming_record_and_field(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        records_to_columns([GOOD, {**GOOD, field: value}], SIGNATURE, max_records=10)
    assert str(caught.value) == message
    assert caught.value.status == 400


# -- a regression project end to end, in process: the scaffold's canteen model ----------------------------------------
@pytest.fixture(scope="module")
def canteen(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, pd.DataFrame]:
    directory = tmp_path_factory.mktemp("canteen") / "canteen"
    scaffold(directory, task="regression")
    project = load_project(directory)
    raw = pd.read_csv(directory / "data" / "canteen_days.csv", parse_dates=["date"])
    raw["date"] = raw["date"].dt.tz_localize("UTC")
    return project, apply_transformation(project.feature_views[0], raw)


@pytest.fixture(scope="module")
def trained(canteen: tuple[Project, pd.DataFrame]):  # type: ignore[no-untyped-def]
    project, frame = canteen
    spec = project.models[0]
    split = time_based_split(frame, spec)
    return spec, split, train_model(split.train, spec)


def test_regression_evaluation_records_the_canary_range_which_the_gate_ignores(trained) -> None:  # type: ignore[no-untyped-def]
    spec, split, model = trained
    evaluation = evaluate_model(model, split.holdout, spec)
    predicted = model.predict(model_input(split.holdout, spec))
    metrics = evaluation.as_metrics()
    assert metrics["predicted_range.p05"] == pytest.approx(np.percentile(predicted, 5))
    assert metrics["predicted_range.p95"] == pytest.approx(np.percentile(predicted, 95))
    assert set(metrics) == {"rmse", "mae", "r2", "predicted_range.p05", "predicted_range.p95"}
    assert decide(spec.gate, spec.task, metrics).passed


def test_onnx_and_scikit_learn_serve_the_same_values_for_the_same_records(trained) -> None:  # type: ignore[no-untyped-def]
    spec, split, model = trained
    signature = ModelSignature.from_spec(spec)
    exported = export_onnx(model, signature, sample=split.train[spec.feature_names])
    assert isinstance(exported, OnnxExport)
    records = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in split.holdout[spec.feature_names].head(20).to_dict(orient="records")
    ]
    columns = records_to_columns(records, signature, max_records=100)
    by_onnx = Predictor(OnnxModel(exported.data, exported.sha256), signature, runtime=ONNX).predict(columns)
    by_sklearn = Predictor(model, signature, runtime=SKLEARN).predict(columns)
    assert by_onnx.regression and len(by_onnx) == 20
    np.testing.assert_allclose(by_onnx.values, by_sklearn.values, rtol=1e-5)
    np.testing.assert_allclose(by_sklearn.values, model.predict(split.holdout[spec.feature_names].head(20)))
    answer = by_onnx.answer(0)
    assert list(answer) == ["value"] and isinstance(answer["value"], float)
    assert by_onnx.outcomes == list(by_onnx.values)


def test_batch_scoring_applies_the_request_rules_per_column(trained) -> None:  # type: ignore[no-untyped-def]
    spec, split, model = trained
    signature = ModelSignature.from_spec(spec)
    frame = split.holdout[spec.feature_names].head(6).astype(object).reset_index(drop=True)
    frame.loc[1, "site"] = None
    frame.loc[2, "staff_on_site"] = 12.5
    frame.loc[3, "temperature"] = "warm"
    frame.loc[4, "menu"] = "noodles"  # an unknown category is predicted, as over HTTP
    out = predict_frame(frame, model, signature, "m", 3, source_key="k")
    assert out["status"].tolist() == ["OK", "INVALID", "INVALID", "INVALID", "OK", "OK"]
    assert out.loc[1, "reason"] == "invalid: site (not a string, or null)"
    assert "staff_on_site (not an integer" in out.loc[2, "reason"]
    assert "temperature (non-numeric" in out.loc[3, "reason"]
    assert (
        out["prediction"].dtype == float
        and out["prediction"].isna().tolist() == [False, True, True, True] + [False] * 2
    )
    assert "probability" not in out.columns
    expected = model.predict(split.holdout[spec.feature_names].head(6).iloc[[0, 5]])
    np.testing.assert_allclose(out.loc[[0, 5], "prediction"], expected)


def test_monitoring_takes_string_features_and_predicted_values(trained) -> None:  # type: ignore[no-untyped-def]
    spec, split, model = trained
    train = split.train
    baseline = build_baseline(
        train[spec.feature_names], spec.feature_names, model.predict(model_input(train, spec)), numeric_predictions=True
    )
    baseline = DriftBaseline.from_dict(json.loads(json.dumps(baseline.to_dict())))
    assert {f.name: f.kind for f in baseline.features}["site"] == "categorical"
    assert baseline.prediction_numeric is not None and baseline.prediction_distribution == ()
    # Captured predictions as serving writes them: string features, a value, a bool as its category text
    at = datetime(2026, 5, 1, tzinfo=UTC)
    window = split.holdout[spec.feature_names].copy()
    window["site"] = np.where(np.arange(len(window)) % 2 == 0, "harbour", window["site"])  # half from a new site
    window["staff_on_site"] = window["staff_on_site"] + 250
    values = model.predict(window)
    lines = [
        json.dumps(
            capture_record(
                prediction_id=f"p{i}",
                model_name="m",
                model_version=1,
                features={**{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}, "busy": i % 3 == 0},
                prediction={"value": float(value)},
                at=at,
            )
        )
        for i, (row, value) in enumerate(zip(window.to_dict(orient="records"), values, strict=True))
    ]
    captures, rejected = parse_captures("\n".join(lines), "s3://b/k")
    assert rejected == []
    assert set(captures["feature:busy"]) == {"true", "false"}
    predicted = predicted_outcomes(captures, regression=True)
    assert predicted == pytest.approx(list(values))
    policy = DriftPolicy(min_window_rows=100, min_window_rows_for_distances=100)
    report = detect_drift(baseline, feature_frame(captures), predicted, policy=policy)
    by_name = {c.name: c for c in report.features}
    assert by_name["site"].kind == "categorical" and by_name["site"].drifted
    assert by_name["staff_on_site"].drifted
    assert report.prediction is not None and report.prediction.kind == "numeric"
    page = render_report(report, baseline, feature_frame(captures), predicted, title="r", facts={})
    assert page.count("<svg") == len(spec.feature_names) + 1
    # and live quality of a regression joins numeric feedback to the predicted values
    feedback, bad = parse_feedback(
        "\n".join(
            json.dumps({"prediction_id": f"p{i}", "label": float(v) + 2.0, "timestamp": "2026-05-01T01:00:00Z"})
            for i, v in enumerate(values[:40])
        ),
        "f",
    )
    assert bad == []
    quality = live_quality(captures, feedback, task="regression", min_labelled=30)
    assert quality.status == "evaluated"
    assert quality.metrics == {"mae": pytest.approx(2.0), "rmse": pytest.approx(2.0)}


def test_a_classification_capture_still_parses_as_before() -> None:
    line = capture_record(
        prediction_id="p",
        model_name="m",
        model_version=1,
        features={"temp": 1.5},
        prediction={"label": "sun", "probabilities": {"sun": 1.0}},
        at=datetime(2026, 5, 1, tzinfo=UTC),
    )
    captures, rejected = parse_captures(json.dumps(line), "s")
    assert rejected == [] and captures["predicted_label"].tolist() == ["sun"]
    assert predicted_outcomes(captures, regression=False) == ["sun"]
    _, bad = parse_captures(json.dumps({**line, "prediction": {"value": "3"}}), "s")
    assert "prediction.value must be a finite number" in bad[0].reason


def test_scaffold_of_the_regression_task_has_a_string_feature(canteen: tuple[Project, pd.DataFrame]) -> None:
    project, _ = canteen
    assert {str(f.dtype) for f in project.models[0].inputs} >= {"string", "int64", "float64"}
    assert isinstance(project.root, Path)


def test_the_canary_metric_of_a_regressor_is_its_range_agreement(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.handlers import canary_metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Mlops/test")

    registered = {"rmse": 20.0, "predicted_range.p05": 250.0, "predicted_range.p95": 470.0}
    canary_metrics.record_agreement([300.0, 400.0, 600.0], registered, smoke_test=False)
    canary_metrics.record_agreement([300.0], registered, smoke_test=True)  # left out
    canary_metrics.record_agreement([300.0], {"rmse": 20.0}, smoke_test=False)  # no baseline: nothing
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if "BaselineAgreement" in text]
    assert line["BaselineAgreement"] == [pytest.approx(2 / 3 / 0.9)]
    assert line["ModelVersion"] == "latest"
