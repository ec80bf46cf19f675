"""A version's evaluation as the version page shows it: what its run's Evaluate step recorded, the candidate
beside the champion re-scored on the same holdout (no cloud: a run record)."""

from __future__ import annotations

import pytest

from functions.metadata.metadata_store import PipelineRun, StepRun
from mlops.ui.models import evaluation_of


def run_with(outputs: dict[str, object] | None) -> PipelineRun:
    steps = () if outputs is None else (StepRun("Evaluate", "SUCCEEDED", "t0", "t1", 0.1, outputs),)
    return PipelineRun("r1", "training", "SUCCEEDED", "t0", {"type": "schedule"}, "arn", steps=steps)


def test_the_evaluation_sets_each_metric_beside_the_champions_on_the_same_holdout() -> None:
    # Given an Evaluate step that re-scored champion v3 on the candidate's holdout and refused the candidate
    recorded = {
        "metrics": {"accuracy": 0.70, "macro_f1": 0.30, "predicted_share.sun": 0.64},
        "champion": {"version": 3, "metrics": {"accuracy": 0.65, "macro_f1": 0.35}},
        "holdout_rows": 292,
        "gate": {"primary_metric": "macro_f1", "tolerance": 0.0},
        "passed": False,
        "reason": "macro_f1 0.3 is below the champion's 0.35",
    }
    evaluation = evaluation_of(run_with(recorded))
    assert evaluation is not None
    # Then each quality metric is a row: candidate, champion, difference (the predicted shares are not compared)
    rows = {row["metric"]: row for row in evaluation["rows"]}
    assert sorted(rows) == ["accuracy", "macro_f1"]
    assert rows["accuracy"]["delta"] == pytest.approx(0.05) and rows["macro_f1"]["delta"] == pytest.approx(-0.05)
    # And the verdict is the gate's, with the champion it was compared with
    assert (evaluation["champion_version"], evaluation["passed"], evaluation["holdout_rows"]) == (3, False, 292)
    assert evaluation["reason"] == "macro_f1 0.3 is below the champion's 0.35"


def test_a_first_version_has_no_champion_column_and_a_run_without_evaluate_has_noevaluation_of() -> None:
    first = evaluation_of(run_with({"metrics": {"accuracy": 0.7}, "champion": None, "passed": True, "reason": "ok"}))
    assert first is not None and first["champion_version"] is None
    assert first["rows"] == [{"metric": "accuracy", "candidate": 0.7, "champion": None, "delta": None}]
    assert evaluation_of(run_with(None)) is None and evaluation_of(None) is None
