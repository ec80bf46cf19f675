"""A function's logging handler keeps writing to its own log across local clouds of one process."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mlops.local import LocalCloud
from tests.fixtures.assemblies import write_assembly


def one_function(directory: Path, name: str, handler: str, **properties: Any) -> Path:
    """An assembly of one zip function running ``handler`` (and its role)."""
    function = {
        "Runtime": "python3.12",
        "Handler": handler,
        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        "Code": {"S3Bucket": "assets", "S3Key": "x.zip"},
        **properties,
    }
    return write_assembly(
        directory,
        {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
            name: {"Type": "AWS::Lambda::Function", "Properties": function},
        },
    )


def test_a_logger_made_in_an_earlier_cloud_logs_into_the_function_s_log_of_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a function that logs through a named logger whose stdout handler outlives its module
    assembly = one_function(tmp_path, "Logger", "tests.fixtures.logging_handler.handler")
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


def test_while_a_function_runs_another_thread_s_output_goes_to_the_streams_of_now(tmp_path: Path) -> None:
    # Given a cloud started under one stdout (a test runner's capture of an earlier phase)
    assembly = one_function(tmp_path, "Waiter", "tests.fixtures.waiting_handler.handler", Timeout=60)
    earlier, now = io.StringIO(), io.StringIO()
    real = sys.stdout
    sys.stdout = earlier
    try:
        with LocalCloud(assembly) as cloud:
            sys.stdout = now  # (the next phase's capture)
            started, release = tmp_path / "started", tmp_path / "release"
            event = json.dumps({"started": str(started), "release": str(release)}).encode()
            name = cloud.function_name("Waiter")
            invoking = threading.Thread(
                target=lambda: cloud.client("lambda").invoke(FunctionName=name, Payload=event), daemon=True
            )
            invoking.start()
            while not started.exists():
                time.sleep(0.01)
            # When this thread writes to the stdout it finds while the function runs (as a CLI command does)
            print("written meanwhile", file=sys.stdout)
            release.touch()
            invoking.join(timeout=30)
    finally:
        sys.stdout = real
    # Then the line went to the stream current when the function started, not to the cloud's first one
    assert "written meanwhile" in now.getvalue() and "written meanwhile" not in earlier.getvalue()
