"""The prod stage, synthesized once (cdk-nag included) for the hardening tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.synth import synth


@pytest.fixture(scope="session")
def prod_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth(tmp_path_factory.mktemp("prod-assembly") / "cdk.out", stage="prod")
