"""The quality gate (functions/training/gate.py): floors, per-class floors, the champion on the same holdout."""

from __future__ import annotations

import pytest

from functions.shared.errors import ConfigurationError
from functions.training.fit import Evaluation
from functions.training.gate import decide
from functions.training.model_spec import QualityGate, Task
from tests.projects import seattle

CLASSES = ("drizzle", "fog", "rain", "snow", "sun")


def classification(
    macro_f1: float, *, accuracy: float = 0.8, shares: dict[str, float] | None = None
) -> dict[str, float]:
    """What Evaluate hands the gate and the registry: quality metrics and the canary baseline beside them."""
    return Evaluation(
        quality={"accuracy": accuracy, "macro_f1": macro_f1, "balanced_accuracy": macro_f1},
        holdout_rows=100,
        predicted_shares=shares or {"sun": 0.5, "rain": 0.5},
    ).as_metrics()


def regression(rmse: float, *, r2: float = 0.7) -> dict[str, float]:
    return {"rmse": rmse, "mae": rmse * 0.8, "r2": r2}


def test_a_better_candidate_passes_even_when_its_predicted_shares_differ() -> None:
    # Given a champion predicting half sun, half rain, and a better candidate predicting mostly sun
    champion = classification(0.50, shares={"sun": 0.5, "rain": 0.5})
    candidate = classification(0.60, shares={"sun": 0.9, "rain": 0.1})
    assert candidate["predicted_share.sun"] != champion["predicted_share.sun"]
    # When the gate compares them
    decision = decide(QualityGate("macro_f1"), Task.CLASSIFICATION, candidate, champion=champion, champion_version=3)
    # Then the shares (a canary's baseline, not a quality metric) do not count against it
    assert decision.passed
    assert decision.reasons == ()
    assert decision.reason == "quality gate passed"


def test_a_candidate_worse_than_the_champion_beyond_the_tolerance_fails_naming_both() -> None:
    gate = QualityGate("macro_f1", tolerance=0.01)
    decision = decide(
        gate, Task.CLASSIFICATION, classification(0.50), champion=classification(0.55), champion_version=3
    )
    assert not decision.passed
    (reason,) = decision.reasons
    assert "macro_f1 0.5000 is worse than champion version 3's 0.5500" in reason
    assert "tolerance 0.01" in reason
    assert decision.reason == reason


def test_a_candidate_worse_within_the_tolerance_or_equal_passes() -> None:
    within = decide(
        QualityGate("macro_f1", tolerance=0.01),
        Task.CLASSIFICATION,
        classification(0.545),
        champion=classification(0.55),
        champion_version=3,
    )
    assert within.passed
    equal = decide(QualityGate("macro_f1"), Task.CLASSIFICATION, classification(0.55), champion=classification(0.55))
    assert equal.passed


def test_only_the_primary_metric_is_compared_with_the_champion() -> None:
    # Accuracy dropped a lot, macro F1 (the primary metric) did not: the gate compares macro F1 only
    decision = decide(
        QualityGate("macro_f1"),
        Task.CLASSIFICATION,
        classification(0.6, accuracy=0.61),
        champion=classification(0.6, accuracy=0.9),
        champion_version=1,
    )
    assert decision.passed


def test_a_higher_is_better_floor_is_a_minimum() -> None:
    gate = QualityGate("macro_f1", floors={"accuracy": 0.6})
    below = decide(gate, Task.CLASSIFICATION, classification(0.5, accuracy=0.59))
    assert not below.passed
    assert below.reasons == ("holdout accuracy 0.5900 is below the floor 0.6",)
    assert decide(gate, Task.CLASSIFICATION, classification(0.5, accuracy=0.6)).passed
    assert decide(gate, Task.CLASSIFICATION, classification(0.5, accuracy=0.95)).passed


def test_a_lower_is_better_floor_is_a_ceiling_and_regression_is_compared_the_right_way_round() -> None:
    gate = QualityGate("rmse", floors={"rmse": 12.0, "r2": 0.5}, tolerance=0.2)
    # An rmse above its ceiling fails; r2 (higher is better) below its floor fails too
    above = decide(gate, Task.REGRESSION, regression(12.5, r2=0.4))
    assert not above.passed
    assert above.reasons == (
        "holdout rmse 12.5000 is above the ceiling 12.0",
        "holdout r2 0.4000 is below the floor 0.5",
    )
    assert decide(gate, Task.REGRESSION, regression(12.0)).passed
    assert decide(gate, Task.REGRESSION, regression(3.0)).passed
    # A lower rmse than the champion's is better; a higher one beyond the tolerance is worse
    assert decide(gate, Task.REGRESSION, regression(9.0), champion=regression(10.0), champion_version=2).passed
    assert decide(gate, Task.REGRESSION, regression(10.1), champion=regression(10.0), champion_version=2).passed
    worse = decide(gate, Task.REGRESSION, regression(10.5), champion=regression(10.0), champion_version=2)
    assert not worse.passed
    assert worse.reasons == (
        "holdout rmse 10.5000 is worse than champion version 2's 10.0000 on the same holdout (tolerance 0.2)",
    )


def test_per_class_floors_apply_to_a_named_class_and_to_every_other_class_with_a_star() -> None:
    gate = QualityGate("macro_f1", per_class_floors={"snow": 0.2, "*": 0.1})
    per_class = {"drizzle": 0.1, "fog": 0.3, "rain": 0.05, "snow": 0.15, "sun": 0.9}
    decision = decide(gate, Task.CLASSIFICATION, classification(0.5), per_class_f1=per_class)
    assert not decision.passed
    # snow has its own floor (0.2, not the 0.1 of "*"); rain is below "*"; drizzle at the floor passes
    assert decision.reasons == (
        "holdout F1 of class 'rain' 0.0500 is below the floor 0.1",
        "holdout F1 of class 'snow' 0.1500 is below the floor 0.2",
    )
    at_the_floors = {**per_class, "rain": 0.1, "snow": 0.2}
    assert decide(gate, Task.CLASSIFICATION, classification(0.5), per_class_f1=at_the_floors).passed


def test_without_a_star_only_the_named_classes_have_a_floor() -> None:
    gate = QualityGate("macro_f1", per_class_floors={"snow": 0.2})
    per_class = {"drizzle": 0.0, "fog": 0.0, "rain": 0.6, "snow": 0.25, "sun": 0.9}
    assert decide(gate, Task.CLASSIFICATION, classification(0.5), per_class_f1=per_class).passed
    failed = decide(gate, Task.CLASSIFICATION, classification(0.5), per_class_f1={**per_class, "snow": 0.1})
    assert failed.reasons == ("holdout F1 of class 'snow' 0.1000 is below the floor 0.2",)


def test_without_a_champion_only_the_floors_decide() -> None:
    gate = QualityGate("macro_f1", floors={"accuracy": 0.6}, tolerance=0.0)
    # A weak primary metric is no reason to fail when there is nothing to compare it with
    assert decide(gate, Task.CLASSIFICATION, classification(0.05, accuracy=0.7)).passed
    assert decide(gate, Task.CLASSIFICATION, classification(0.05, accuracy=0.7), champion_version=None).passed
    # The floors still apply
    failed = decide(gate, Task.CLASSIFICATION, classification(0.05, accuracy=0.5))
    assert failed.reasons == ("holdout accuracy 0.5000 is below the floor 0.6",)


def test_every_failed_check_is_reported_not_just_the_first() -> None:
    gate = QualityGate("macro_f1", floors={"accuracy": 0.6}, per_class_floors={"*": 0.2})
    decision = decide(
        gate,
        Task.CLASSIFICATION,
        classification(0.3, accuracy=0.5),
        per_class_f1={"sun": 0.1},
        champion=classification(0.4),
        champion_version=7,
    )
    assert len(decision.reasons) == 3
    assert decision.reason == "; ".join(decision.reasons)
    assert "accuracy" in decision.reasons[0] and "'sun'" in decision.reasons[1] and "version 7" in decision.reasons[2]


def test_the_demo_projects_gate_has_the_accuracy_floor_the_stage_config_used_to_hold() -> None:
    spec = seattle().model("seattle-weather")
    assert spec.gate.floors == {"accuracy": 0.6} and spec.gate.primary_metric == "macro_f1"
    assert not decide(spec.gate, spec.task, classification(0.5, accuracy=0.55)).passed
    assert decide(spec.gate, spec.task, classification(0.5, accuracy=0.65)).passed


@pytest.mark.parametrize(
    ("gate", "task", "message"),
    [
        (QualityGate("rmse"), Task.CLASSIFICATION, "gate metric 'rmse' is not a classification metric"),
        (QualityGate("macro_f1", floors={"r2": 0.5}), Task.CLASSIFICATION, "gate metric 'r2'"),
        (QualityGate("rmse", floors={"rmse": float("inf")}), Task.REGRESSION, "must be finite"),
        (QualityGate("rmse", per_class_floors={"*": 0.1}), Task.REGRESSION, "per_class_floors apply to classification"),
        (QualityGate("macro_f1", per_class_floors={"hail": 0.1}), Task.CLASSIFICATION, "unknown class 'hail'"),
        (QualityGate("macro_f1", per_class_floors={"*": 1.5}), Task.CLASSIFICATION, "within 0..1"),
        (QualityGate("macro_f1", tolerance=-0.1), Task.CLASSIFICATION, "tolerance must be >= 0"),
    ],
)
def test_a_gate_that_cannot_be_applied_is_refused_when_the_project_loads(
    gate: QualityGate, task: Task, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        gate.validate(task, "m", CLASSES)
