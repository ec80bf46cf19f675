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
from mlops.scaffold import scaffold  # noqa: E402
from mlops.synth import synth, synth_each  # noqa: E402
from tests.projects import EXAMPLES, SEATTLE_DIR  # noqa: E402

# Every assembly the suite's session fixtures use: the first one asked for synthesizes them all in one process
# (about 20 s), where each on its own costs a whole synth (about 15 s). A scaffold is generated (under the run's
# temp root) by `mlops init` before the batch synthesizes it.
SHARED_ASSEMBLIES: dict[tuple[str, str], Path | str] = {
    ("seattle", "dev"): SEATTLE_DIR,
    ("stocks", "dev"): EXAMPLES / "stocks",
    ("seattle", "prod"): SEATTLE_DIR,
    ("two-models", "dev"): Path(__file__).resolve().parent / "fixtures" / "two_models",
    ("regression-scaffold", "dev"): "regression",
}


def scaffold_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """Where the shared scaffold ``name`` (a key of SHARED_ASSEMBLIES) is generated for this run."""
    return _run_root(tmp_path_factory) / name / "project"


def _project_of(root: Path, name: str, source: Path | str) -> Path:
    if isinstance(source, Path):
        return source
    project = root / name / "project"
    if not project.exists():
        scaffold(project, task=source)
    return project


def _run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.getbasetemp()
    # Under xdist, the per-run directory all workers' temp dirs live in
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


def shared_synth(tmp_path_factory: pytest.TempPathFactory, name: str, *, stage: str, project: Path) -> Path:
    """Synthesize once per test run, whatever the number of xdist workers: the first worker to ask
    writes the assemblies under the run's shared temp root (holding a file lock); the others read them."""
    root = _run_root(tmp_path_factory)
    target = root / f"{name}-{stage}" / "cdk.out"
    with (root / "synth.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        batch = root / "synth-each.done"
        if (name, stage) in SHARED_ASSEMBLIES and not batch.exists():
            batch.touch()  # tried once: if it fails, this fixture fails with its error, the others synth alone
            synth_each(
                [(root / f"{n}-{s}" / "cdk.out", s, _project_of(root, n, p)) for (n, s), p in SHARED_ASSEMBLIES.items()]
            )
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
