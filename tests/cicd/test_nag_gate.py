"""The cdk-nag gate: AwsSolutions and Serverless packs, zero unacknowledged findings on every stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Synth (app.py via mlops.synth) fails on any unacknowledged finding of either pack, so the
# assembly fixtures exist only if the gate passed; the report must also list no violation.
# The gate failing on a careless bucket and function is tested in tests/infra/test_stack.py.


def _violations(report_path: Path) -> list[tuple[str, str, str]]:
    report: dict[str, Any] = json.loads(report_path.read_text())
    return [
        (plugin["pluginName"], violation["ruleName"], construct["constructPath"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation.get("violatingConstructs", [])
    ]


def test_prod_assembly_passed_the_gate(prod_assembly: Path) -> None:
    assert _violations(prod_assembly / "validation-report.json") == []


def test_dev_assembly_of_each_example_passed_the_gate(example_assembly: Path) -> None:
    assert _violations(example_assembly / "validation-report.json") == []
