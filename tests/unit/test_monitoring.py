"""Drift statistics, drift decisions, live quality and the capture formats (pure core)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from functions.monitoring.baseline import DriftBaseline, build_baseline
from functions.monitoring.captures import drift_sample, feature_frame, parse_captures, parse_feedback
from functions.monitoring.drift import (
    CHI_SQUARE,
    JENSEN_SHANNON,
    KS,
    SKIPPED,
    WASSERSTEIN,
    DriftPolicy,
    detect_drift,
)
from functions.monitoring.quality import live_quality
from functions.monitoring.report import render_report
from functions.shared.errors import DataValidationError

LABELS = np.array(["sun", "rain", "fog"])


def frame(rng: np.random.Generator, rows: int, *, shift: float = 0.0, colour_p: tuple[float, ...] = (0.5, 0.3, 0.2)):
    return pd.DataFrame(
        {
            "temp": rng.normal(10 + shift, 3, rows),
            "wind": rng.gamma(2.0, 2.0 + shift, rows),
            "pressure": rng.normal(1013, 8, rows),
            "colour": rng.choice(["red", "green", "blue"], rows, p=list(colour_p)),
        }
    )


def baseline_of(reference: pd.DataFrame, seed: int = 1) -> DriftBaseline:
    labels = np.where(reference["temp"] > 10, "sun", "rain")
    return build_baseline(reference, list(reference.columns), list(labels), sample_size=5000, seed=seed)


def test_small_reference_uses_ks_and_chi_square_equal_to_scipy() -> None:
    # Given a reference of 800 rows (<= 1000: statistical tests)
    rng = np.random.default_rng(7)
    reference, current = frame(rng, 800), frame(rng, 400, shift=0.5)
    baseline = baseline_of(reference)
    # When drift is detected
    report = detect_drift(baseline, current)
    by_name = {c.name: c for c in report.features}
    # Then numeric features use KS and categorical chi-square, with scipy's values
    assert by_name["temp"].method == KS
    assert by_name["temp"].score == pytest.approx(stats.ks_2samp(reference["temp"], current["temp"]).pvalue)
    assert by_name["colour"].method == CHI_SQUARE
    categories = ["blue", "green", "red"]
    observed = current["colour"].value_counts().reindex(categories).to_numpy()
    expected = reference["colour"].value_counts(normalize=True).reindex(categories).to_numpy() * len(current)
    assert by_name["colour"].score == pytest.approx(stats.chisquare(observed, expected).pvalue)


def test_large_reference_uses_normalized_wasserstein_and_jensen_shannon_equal_to_scipy() -> None:
    rng = np.random.default_rng(8)
    reference, current = frame(rng, 3000), frame(rng, 500, shift=1.0, colour_p=(0.2, 0.3, 0.5))
    baseline = baseline_of(reference)
    by_name = {c.name: c for c in detect_drift(baseline, current).features}
    assert by_name["wind"].method == WASSERSTEIN
    wind = reference["wind"].to_numpy()
    expected_wd = stats.wasserstein_distance(wind, current["wind"]) / np.std(wind)
    assert by_name["wind"].score == pytest.approx(expected_wd)
    assert by_name["colour"].method == JENSEN_SHANNON
    categories = ["blue", "green", "red"]
    p = reference["colour"].value_counts(normalize=True).reindex(categories).to_numpy()
    q = current["colour"].value_counts(normalize=True).reindex(categories).to_numpy()
    assert by_name["colour"].score == pytest.approx(distance.jensenshannon(p, q))


@pytest.mark.parametrize("reference_rows", [800, 5000])
def test_same_distribution_false_alarm_rate_is_at_most_five_percent(reference_rows: int) -> None:
    # Given a baseline and 200 seeded windows of the smallest size the policy evaluates
    baseline = baseline_of(frame(np.random.default_rng(0), reference_rows))
    window = DriftPolicy().minimum_window(reference_rows)
    alarms = 0
    for seed in range(1, 201):
        report = detect_drift(baseline, frame(np.random.default_rng(seed), window))
        assert report.status == "evaluated"
        alarms += report.dataset_drift
    # Then dataset drift is declared in at most 5% of them
    assert alarms / 200 <= 0.05


@pytest.mark.parametrize("reference_rows", [800, 5000])
def test_known_shift_is_detected(reference_rows: int) -> None:
    baseline = baseline_of(frame(np.random.default_rng(0), reference_rows))
    shifted = frame(np.random.default_rng(99), 500, shift=3.0, colour_p=(0.1, 0.2, 0.7))
    report = detect_drift(baseline, shifted, list(np.where(shifted["temp"] > 10, "sun", "rain")))
    assert report.dataset_drift
    assert {"temp", "wind", "colour"} <= set(report.drifted_features)
    assert "pressure" not in report.drifted_features
    assert report.prediction is not None and report.prediction.drifted
    assert all(c.psi > 0.1 for c in report.features if c.name in ("temp", "colour"))


def test_too_small_window_is_skipped_not_alarmed() -> None:
    baseline = baseline_of(frame(np.random.default_rng(0), 800))
    report = detect_drift(
        baseline, frame(np.random.default_rng(1), 50, shift=10), policy=DriftPolicy(min_window_rows=100)
    )
    assert report.status == SKIPPED
    assert not report.dataset_drift
    assert "50 rows" in report.reason


def test_unseen_category_is_drift_with_zero_p_value() -> None:
    baseline = baseline_of(frame(np.random.default_rng(0), 800))
    current = frame(np.random.default_rng(1), 300)
    current.loc[:100, "colour"] = "purple"
    colour = {c.name: c for c in detect_drift(baseline, current).features}["colour"]
    assert colour.drifted and colour.score == 0.0


def test_window_missing_a_baseline_feature_is_a_clear_error() -> None:
    baseline = baseline_of(frame(np.random.default_rng(0), 800))
    with pytest.raises(DataValidationError, match=r"no column.*pressure"):
        detect_drift(baseline, frame(np.random.default_rng(1), 300).drop(columns="pressure"))


def test_baseline_round_trips_through_json_and_is_bounded() -> None:
    reference = frame(np.random.default_rng(0), 9000)
    baseline = build_baseline(reference, list(reference.columns), ["sun"] * 9000, sample_size=1000, seed=3)
    again = DriftBaseline.from_dict(json.loads(json.dumps(baseline.to_dict())))
    assert again == baseline
    temp = baseline.feature("temp")
    assert len(temp.sample) == 1000  # type: ignore[union-attr]
    assert baseline.reference_rows == 9000
    # the same seed draws the same sample
    assert build_baseline(reference, ["temp"], ["sun"] * 9000, sample_size=1000, seed=3).feature("temp") == temp


def test_baseline_rejects_missing_values_naming_the_column() -> None:
    reference = frame(np.random.default_rng(0), 100)
    reference.loc[3, "wind"] = np.nan
    with pytest.raises(DataValidationError, match="'wind' has 1 missing"):
        build_baseline(reference, list(reference.columns), ["sun"] * 100)


def _at(minutes: int) -> datetime:
    return datetime(2026, 5, 1, tzinfo=UTC) + timedelta(minutes=minutes)


def test_quality_counts_only_predictions_with_feedback_and_reports_label_delay() -> None:
    # Given 100 predictions of which 40 got feedback (30 right, 10 wrong), 2 labels for unknown ids
    predictions = pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(100)],
            "timestamp": [_at(i) for i in range(100)],
            "predicted_label": ["sun"] * 100,
        }
    )
    truth = ["sun"] * 30 + ["rain"] * 10
    feedback = pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(40)] + ["x1", "x2"],
            "label": [*truth, "sun", "sun"],
            "timestamp": [_at(i + 60) for i in range(40)] + [_at(0), _at(0)],
        }
    )
    quality = live_quality(predictions, feedback, min_labelled=10)
    assert (quality.predictions, quality.labelled, quality.unmatched_feedback) == (100, 40, 2)
    assert quality.metrics["accuracy"] == pytest.approx(0.75)
    assert quality.label_delay_s["median"] == pytest.approx(3600)


def test_quality_with_too_few_labels_is_skipped() -> None:
    predictions = pd.DataFrame({"prediction_id": ["a"], "timestamp": [_at(0)], "predicted_label": ["sun"]})
    feedback = pd.DataFrame({"prediction_id": ["a"], "label": ["sun"], "timestamp": [_at(1)]})
    quality = live_quality(predictions, feedback, min_labelled=5)
    assert quality.status == "skipped" and quality.metrics == {}


def test_regression_quality_reports_mae_and_rmse() -> None:
    predictions = pd.DataFrame({"prediction_id": ["a", "b"], "timestamp": [_at(0)] * 2, "predicted_label": ["1", "3"]})
    feedback = pd.DataFrame({"prediction_id": ["a", "b"], "label": ["2", "3"], "timestamp": [_at(5)] * 2})
    quality = live_quality(predictions, feedback, task="regression", min_labelled=1)
    assert quality.metrics == {"mae": pytest.approx(0.5), "rmse": pytest.approx(np.sqrt(0.5))}


def test_capture_lines_parse_and_bad_lines_are_rejected_with_reasons() -> None:
    good = {
        "prediction_id": "p1",
        "timestamp": "2026-05-01T10:00:00Z",
        "model_name": "m",
        "model_version": 2,
        "features": {"temp": 1.5, "wind": 3},
        "prediction": {"label": "sun", "probabilities": {"sun": 0.9}},
    }
    text = "\n".join([json.dumps(good), "{not json", json.dumps({**good, "features": {"temp": True}})])
    captures, rejected = parse_captures(text, "s3://b/k.jsonl")
    assert list(feature_frame(captures).columns) == ["temp", "wind"]
    assert [r.line for r in rejected] == [2, 3]
    assert "temp" in rejected[1].reason
    feedback, bad = parse_feedback('{"prediction_id": "p1", "label": "sun", "timestamp": "2026-05-01T11:00:00"}', "f")
    assert feedback.empty and "time zone" in bad[0].reason


def test_report_shows_every_feature_with_method_score_and_decision() -> None:
    baseline = baseline_of(frame(np.random.default_rng(0), 800))
    current = frame(np.random.default_rng(5), 300, shift=3)
    labels = list(np.where(current["temp"] > 10, "sun", "rain"))
    report = detect_drift(baseline, current, labels)
    page = render_report(report, baseline, current, labels, title="Drift <run>", facts={"model": "m"})
    assert page.count("<svg") == 5
    assert "DATASET DRIFT" in page and "Drift &lt;run&gt;" in page
    assert all(c.name in page for c in report.features)


def test_drift_reads_a_stable_share_of_the_captures_chosen_by_prediction_id() -> None:
    # Given a window's captures (every prediction is captured) and a stage that reads a fifth of them for drift
    captures = pd.DataFrame({"prediction_id": [f"p{i}" for i in range(5000)], "feature:x": range(5000)})
    sample = drift_sample(captures, 0.2)
    # Then about a fifth is read, the same rows on a re-run and in any order, and a share of 1 reads them all
    assert 900 < len(sample) < 1100
    assert drift_sample(captures.iloc[::-1], 0.2).index.sort_values().equals(sample.index.sort_values())
    assert set(drift_sample(captures, 0.1)["prediction_id"]) <= set(sample["prediction_id"])
    assert drift_sample(captures, 1.0) is captures
