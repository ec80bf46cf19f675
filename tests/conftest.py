"""Shared fixtures: one synthesized assembly per test session, local clouds on top of it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
# No test may reach a real AWS account.
for _name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

from mlops.local import LocalCloud  # noqa: E402
from mlops.synth import synth  # noqa: E402
from tests.projects import EXAMPLES, SEATTLE_DIR  # noqa: E402


def shared_synth(tmp_path_factory: pytest.TempPathFactory, name: str, *, stage: str, project: Path) -> Path:
    """Synthesize once per test run, whatever the number of xdist workers: the first worker to ask
    writes the assembly under the run's shared temp root (holding a file lock); the others read it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the per-run directory all workers' temp dirs live in
    target = root / f"{name}-{stage}" / "cdk.out"
    with (root / f"{name}-{stage}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "manifest.json").is_file():
            synth(target, stage=stage, project=project)
    return target


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dev stage of the demo project, synthesized once (cdk-nag included) by the same app.py `cdk synth` runs."""
    return shared_synth(tmp_path_factory, "seattle", stage="dev", project=SEATTLE_DIR)


@pytest.fixture(scope="session")
def stocks_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dev stage of the second example (regression, several entities), synthesized once."""
    return shared_synth(tmp_path_factory, "stocks", stage="dev", project=EXAMPLES / "stocks")


@pytest.fixture(params=["seattle_weather", "stocks"])
def example_assembly(request: pytest.FixtureRequest) -> Path:
    """Each shipped example's dev assembly: the contract, nag and least-privilege tests run on both."""
    return Path(request.getfixturevalue("assembly" if request.param == "seattle_weather" else "stocks_assembly"))


@pytest.fixture
def cloud(assembly: Path) -> Iterator[LocalCloud]:
    with LocalCloud(assembly) as running:
        yield running
