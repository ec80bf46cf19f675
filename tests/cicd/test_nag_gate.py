"""The cdk-nag gate: AwsSolutions and Serverless packs, zero unacknowledged findings on every stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_lambda as lambda_

from infra.nag import add_nag_checks


def _violations(report_path: Path) -> list[tuple[str, str, str]]:
    report: dict[str, Any] = json.loads(report_path.read_text())
    return [
        (plugin["pluginName"], violation["ruleName"], construct["constructPath"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation.get("violatingConstructs", [])
    ]


def test_prod_assembly_passed_the_gate(prod_assembly: Path) -> None:
    # The synth itself fails on any finding; the report must also list none.
    assert _violations(prod_assembly / "validation-report.json") == []


def test_dev_assembly_passed_the_gate(assembly: Path) -> None:
    assert _violations(assembly / "validation-report.json") == []


def test_serverless_pack_fails_synth_on_an_untraced_function(tmp_path: Path) -> None:
    # Given an app with a Lambda function that has no tracing, no DLQ and default log retention
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"),
        timeout=Duration.seconds(3),
    )
    add_nag_checks(app)
    # When it synthesizes, Then both packs report it and the gate fails synth
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    rules = {rule for _, rule, _ in _violations(tmp_path / "validation-report.json")}
    assert {"Serverless-LambdaTracing", "Serverless-LambdaDLQ"} <= rules
    assert any(rule.startswith("AwsSolutions-") for rule in rules)
