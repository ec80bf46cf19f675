"""A function's logging handler keeps writing to its own log across local clouds of one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.local import LocalCloud
from tests.fixtures.assemblies import write_assembly


def test_a_logger_made_in_an_earlier_cloud_logs_into_the_function_s_log_of_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a function that logs through a named logger whose stdout handler outlives its module
    assembly = write_assembly(
        tmp_path,
        {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
            "Logger": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "tests.fixtures.logging_handler.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"S3Bucket": "assets", "S3Key": "x.zip"},
                },
            },
        },
    )
    # When two local clouds run it one after the other in this process (as two demos of one test session do)
    for line in ("first cloud", "second cloud"):
        with LocalCloud(assembly) as cloud:
            name = cloud.function_name("Logger")
            cloud.client("lambda").invoke(FunctionName=name, Payload=json.dumps({"line": line}).encode())
            # Then each cloud's invocation logged into that function's log
            assert line in cloud.runtime.functions[name].log
    # and nothing reached the console, during the clouds or after them
    printed = capsys.readouterr()
    assert "cloud" not in printed.out + printed.err
