"""Which version serves: the pinned one on a rollout's published version, else the champion, never the newest."""

from __future__ import annotations

import pytest

from functions.registry.serving_rule import rollout_refusal, serving_version
from functions.shared.errors import ModelNotFoundError


def test_a_pinned_function_version_serves_exactly_its_model_version() -> None:
    assert serving_version("m", pinned=3, champion=5) == 3


def test_an_unpinned_function_serves_the_champion() -> None:
    assert serving_version("m", pinned=None, champion=2) == 2


def test_without_a_champion_nothing_serves_and_the_error_says_what_to_do() -> None:
    with pytest.raises(ModelNotFoundError, match="model 'm' has no champion yet: train a version that passes"):
        serving_version("m", pinned=None, champion=None)


def test_a_rollout_gets_traffic_only_while_its_version_is_the_approved_champion() -> None:
    assert rollout_refusal("m", 2, approval_status="approved", champion=2) is None
    withdrawn = rollout_refusal("m", 2, approval_status="rejected", champion=None)
    assert withdrawn == "model 'm' version 2 is rejected, not approved: no traffic shifts to it"
    moved_back = rollout_refusal("m", 2, approval_status="approved", champion=1)
    assert moved_back == "model 'm' version 2 is no longer champion (now 1): no traffic shifts to it"
