"""Shared fixtures: one synthesized assembly per test session, local clouds on top of it."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tests.projects import EXAMPLES, SEATTLE_DIR, TUNED_DEV  # noqa: E402

# Every assembly the suite's session fixtures use: the first one asked for synthesizes them all in one process
# (about 20 s), where each on its own costs a whole synth (about 15 s). A scaffold is generated (under the run's
# temp root) by `mlops init` before the batch synthesizes it.
SHARED_ASSEMBLIES: dict[tuple[str, str], Path | str] = {
    ("seattle", "dev"): SEATTLE_DIR,
    ("stocks", "dev"): EXAMPLES / "stocks",
    ("seattle", "prod"): SEATTLE_DIR,
    ("two-models", "dev"): Path(__file__).resolve().parent / "fixtures" / "two_models",
    ("regression-scaffold", "dev"): "regression",
    ("seattle-tuned", "dev"): SEATTLE_DIR,
}
# Stage settings changed for one shared assembly (a variant of its stage).
SHARED_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {("seattle-tuned", "dev"): TUNED_DEV}


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


def _synthesize_shared(root: Path) -> None:
    """Synthesize every SHARED_ASSEMBLIES entry under the run's ``root`` in one app.py process, once per run:
    the first caller does it holding the run's file lock, later ones wait for it and find it done. Tried
    once: if it fails, the first caller fails with its error and each fixture then synthesizes alone."""
    with (root / "synth.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        batch = root / "synth-each.done"
        if batch.exists():
            return
        batch.touch()
        synth_each(
            [(root / f"{n}-{s}" / "cdk.out", s, _project_of(root, n, p)) for (n, s), p in SHARED_ASSEMBLIES.items()],
            {root / f"{n}-{s}" / "cdk.out": changed for (n, s), changed in SHARED_OVERRIDES.items()},
        )


def shared_synth(tmp_path_factory: pytest.TempPathFactory, name: str, *, stage: str, project: Path) -> Path:
    """Synthesize once per test run, whatever the number of xdist workers: the shared batch (started by the
    controller as the run begins, see ``pytest_sessionstart``, or by the first worker to ask) writes the
    assemblies under the run's shared temp root; everyone else reads them."""
    root = _run_root(tmp_path_factory)
    target = root / f"{name}-{stage}" / "cdk.out"
    if (name, stage) in SHARED_ASSEMBLIES:
        _synthesize_shared(root)
    with (root / "synth.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "manifest.json").is_file():
            synth(target, stage=stage, project=project)
    return target


_PRESYNTH: dict[str, Any] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    """On a whole-suite run with xdist workers (``make test``), the controller starts the shared synthesis as
    the workers boot, so tests that need no assembly run meanwhile instead of both workers waiting on the lock."""
    config = session.config
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if os.environ.get("PYTEST_XDIST_WORKER") or not whole_suite or not getattr(config.option, "numprocesses", None):
        return
    root = config._tmp_path_factory.getbasetemp()  # the workers' temp dirs live under it (see _run_root)

    def presynth() -> None:
        try:
            _synthesize_shared(root)
        except Exception as exc:  # reported at the session's end (pytest_sessionfinish), which then fails the run
            _PRESYNTH["error"] = exc

    thread = threading.Thread(target=presynth, name="shared-synth", daemon=True)
    _PRESYNTH["thread"] = thread
    thread.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    thread = _PRESYNTH.get("thread")
    if thread is not None:
        thread.join()  # never leave app.py running behind the session
    if "error" in _PRESYNTH:
        # The fixtures that needed an assembly then synthesized alone and failed with their own error; the run
        # fails too, and says where the shared synthesis broke.
        error = _PRESYNTH["error"]
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"shared synthesis failed: {type(error).__name__}: {error}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# The suite's longest tests (each several seconds to 15 s, ``--durations``), run first within their part of the
# order below: xdist's workers then end on short tests, and neither waits long for the other's last one. A module
# named here moves as a whole (its module-scoped fixtures are set up once); a test id, to the front of its module.
LONG_FIRST = (
    "tests/unit/test_examples.py",
    "tests/e2e/test_examples_loop.py",
    "tests/e2e/test_regression_project.py",
    "tests/stepfunctions/test_training_pipeline.py",
    "tests/stepfunctions/test_training_pipeline.py::test_a_failure_injected_at_each_step",
    "tests/stepfunctions/test_feature_partitions.py",
    "tests/stepfunctions/test_registry_faults.py",
    "tests/e2e/test_gateway.py",
    "tests/e2e/test_canary.py",
    "tests/e2e/test_local_server.py",
    "tests/e2e/test_operator_cli.py",
    "tests/e2e/test_multi_model.py",
)
_SYNTH_FIXTURES = {"assembly", "stocks_assembly", "example_assembly", "cloud"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules that need no synthesized assembly first (both xdist workers run them while the shared synthesis
    runs, see ``pytest_sessionstart``), then the others; the ``LONG_FIRST`` ones first within each part. Modules
    stay whole and in collection order otherwise."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    synthesizes: dict[Path, bool] = {}

    def needs_synth(module: list[pytest.Item]) -> bool:
        path = module[0].path
        if path not in synthesizes:  # its own fixture may synthesize, a test may ask for an assembly by name
            source = path.read_text()
            synthesizes[path] = "shared_synth(" in source or "getfixturevalue(" in source
        return synthesizes[path] or any(_SYNTH_FIXTURES & set(item.fixturenames) for item in module)

    def rank(nodeid: str, entries: tuple[str, ...]) -> int:
        return next((i for i, prefix in enumerate(entries) if nodeid.startswith(prefix)), len(entries))

    tests = tuple(entry for entry in LONG_FIRST if "::" in entry)
    ordered = sorted(modules, key=lambda name: (needs_synth(modules[name]), rank(name, LONG_FIRST)))
    items[:] = [item for name in ordered for item in sorted(modules[name], key=lambda item: rank(item.nodeid, tests))]


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
