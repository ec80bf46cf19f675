"""A retrain on the champion's own data and code is skipped; any change trains (pure rule)."""

from __future__ import annotations

from functions.training.retrain_rule import TrainedOn, retrain_decision

CODE = {"git_commit": "abc-dirty", "code_sha256": "c" * 64, "requirements_sha256": "r" * 64, "project_sha256": "p" * 64}
CHAMPION = TrainedOn(3, "d" * 64, CODE)


def test_unchanged_data_and_code_are_skipped_naming_the_champion() -> None:
    decision = retrain_decision(data_sha256="d" * 64, code_version=dict(CODE), champion=CHAMPION)
    assert not decision.changed
    assert decision.reason.startswith("unchanged: training set sha256 dddddddddddd")
    assert decision.reason.endswith("are those champion v3 was trained on")


def test_new_data_trains() -> None:
    decision = retrain_decision(data_sha256="e" * 64, code_version=CODE, champion=CHAMPION)
    assert decision.changed and "differs from champion v3's dddddddddddd" in decision.reason


def test_changed_code_requirements_or_project_trains_but_a_new_commit_alone_does_not() -> None:
    for key in ("code_sha256", "requirements_sha256", "project_sha256"):
        decision = retrain_decision(data_sha256="d" * 64, code_version={**CODE, key: "x" * 64}, champion=CHAMPION)
        assert decision.changed and f"{key} changed" in decision.reason
    # A commit that changed no code (docs only) is the same code: still skipped
    same = retrain_decision(data_sha256="d" * 64, code_version={**CODE, "git_commit": "def"}, champion=CHAMPION)
    assert not same.changed


def test_a_champion_that_recorded_no_code_hash_cannot_be_matched_so_it_trains() -> None:
    old = TrainedOn(1, "d" * 64, {"git_commit": "abc", "requirements_sha256": "r" * 64})
    decision = retrain_decision(data_sha256="d" * 64, code_version=CODE, champion=old)
    assert decision.changed and "code_sha256 is not recorded for both" in decision.reason


def test_no_champion_trains_and_a_gate_rejected_newest_version_on_the_same_inputs_is_skipped() -> None:
    assert retrain_decision(data_sha256="d" * 64, code_version=CODE, champion=None).changed
    rejected = TrainedOn(4, "e" * 64, CODE, "rejected by the quality gate")
    decision = retrain_decision(data_sha256="e" * 64, code_version=CODE, champion=CHAMPION, newest=rejected)
    assert not decision.changed and "are those rejected by the quality gate v4 was trained on" in decision.reason
    moved_on = retrain_decision(data_sha256="f" * 64, code_version=CODE, champion=CHAMPION, newest=rejected)
    assert moved_on.changed and "champion v3" in moved_on.reason
    assert "rejected by the quality gate v4" in moved_on.reason
