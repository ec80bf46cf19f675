"""Every shipped example and every `mlops init` scaffold passes the tests it ships, run the way a user runs them:
`python -m pytest` in a process of its own, with only the toolkit importable (no configuration of ours).

All projects' tests run in one such process (with importlib imports, since each project has its own
``tests/test_project.py``): a process per project paid pandas' and scikit-learn's imports four times.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from mlops.scaffold import TASKS, scaffold
from tests.projects import EXAMPLES

TOOLKIT = EXAMPLES.parent
SHIPPED_TESTS = 3  # tests/test_project.py of every example and of the scaffold template


def test_every_example_and_scaffold_passes_its_own_tests(tmp_path: Path) -> None:
    projects = {p.name: p for p in sorted(EXAMPLES.iterdir()) if (p / "project.py").is_file()}
    for task in TASKS:
        projects[f"scaffold-{task}"] = tmp_path / f"scaffold-{task}"
        scaffold(projects[f"scaffold-{task}"], task=task)
    assert len(projects) >= 4
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # no toolkit configuration leaks into the users' runs
    report = tmp_path / "report.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TOOLKIT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini")]
    command += ["--rootdir", str(tmp_path), "--import-mode=importlib", f"--junitxml={report}"]
    command += ["-o", "junit_family=xunit1", *(str(p / "tests") for p in projects.values())]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Each project's own tests ran and passed (none skipped, none missing)
    passed: Counter[str] = Counter()
    for case in ET.parse(report).iter("testcase"):
        assert not list(case), f"{case.get('file')}::{case.get('name')} did not pass"
        file = (tmp_path / case.get("file", "")).resolve()  # xunit1 names the test's file (rootdir-relative)
        [owner] = [name for name, path in projects.items() if file.is_relative_to(path.resolve())]
        passed[owner] += 1
    assert passed == dict.fromkeys(projects, SHIPPED_TESTS), passed
