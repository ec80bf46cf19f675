"""The prod stage of the demo project, synthesized once (cdk-nag included) for the hardening tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_synth
from tests.projects import SEATTLE_DIR


@pytest.fixture(scope="session")
def prod_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_synth(tmp_path_factory, "seattle", stage="prod", project=SEATTLE_DIR)
