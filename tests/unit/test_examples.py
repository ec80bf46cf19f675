"""The shipped example projects pass their own tests, run as a user runs them (from the project's folder)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.projects import EXAMPLES

ROOT = EXAMPLES.parent


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if (p / "project.py").is_file()))
def test_example_project_passes_its_own_tests(example: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=EXAMPLES / example,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
