"""Which version serves: the pinned one on a rollout's published version, else the champion, never the newest."""

from __future__ import annotations

import pytest

from functions.registry.serving_rule import serving_version
from functions.shared.errors import ModelNotFoundError


def test_a_pinned_function_version_serves_exactly_its_model_version() -> None:
    assert serving_version("m", pinned=3, champion=5) == 3


def test_an_unpinned_function_serves_the_champion() -> None:
    assert serving_version("m", pinned=None, champion=2) == 2


def test_without_a_champion_nothing_serves_and_the_error_says_what_to_do() -> None:
    with pytest.raises(ModelNotFoundError, match="model 'm' has no champion yet: train a version that passes"):
        serving_version("m", pinned=None, champion=None)
