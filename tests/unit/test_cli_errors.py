"""Everyday mistakes with the `mlops` CLI: each is one line on stderr saying what is wrong and what to do, exit
status 2, and no traceback. These fail at argument checking or before any AWS call, so they need no cloud;
the mistakes that need a running cloud to be found (unknown run, version, model, lineage node) are in
tests/e2e/test_operator_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.cli import main
from mlops.local.server import STATE_DIR_ENV

MODEL = "seattle-weather"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "corrupt.json").write_text("{not json")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    (tmp_path / "assembly").mkdir()
    return {
        "missing": str(tmp_path / "missing.csv"),
        "empty": str(tmp_path / "empty.csv"),
        "corrupt_json": str(tmp_path / "corrupt.json"),
        "corrupt_parquet": str(tmp_path / "corrupt.parquet"),
        "not_an_assembly": str(tmp_path / "assembly"),
        "out": str(tmp_path / "out.parquet"),
    }


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No local cloud (an empty state dir), no AWS configuration, credentials or instance metadata."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


# (argv with {file} placeholders, what the one line must contain)
MISTAKES: list[tuple[str, str]] = [
    (f"models promote {MODEL} --reason r", "expected MODEL:VERSION"),
    (f"models promote {MODEL}:vx --reason r", "expected MODEL:VERSION"),
    (f"models promote {MODEL}:0 --reason r", "expected MODEL:VERSION"),
    (f"models promote {MODEL}:3", "the following arguments are required: --reason"),
    (f"lineage {MODEL}", "expected MODEL:VERSION"),
    ("lineage", "one of the arguments ref --feature-view --dataset is required"),
    ("runs list --stage nosuch", "unknown stage 'nosuch'; known stages: dev, prod"),
    ("runs list --stack Mlops-dev", "unrecognized arguments: --stack Mlops-dev"),
    ("runs list --local --stage dev", "not allowed with argument --local"),
    ("runs list --limit 0 --local", "expected a positive whole number"),
    ("runs list --output yaml --local", "invalid choice: 'yaml'"),
    ("train --start yesterday --local", "'yesterday' is not an ISO-8601 time"),
    ("features ingest {missing} --local", "missing.csv: no such file"),
    ("features ingest {empty} --local", "empty.csv: the file is empty"),
    ("features get daily_weather --local", "the following arguments are required: keys"),
    ("features training-set {corrupt_parquet} --views daily_weather --out {out} --local", "cannot be read as parquet"),
    ("local invoke FunctionsRetrainGuard --event {missing}", "missing.csv: no such file"),
    ("local invoke FunctionsRetrainGuard --event {corrupt_json}", "corrupt.json: not valid JSON"),
    ("local up --assembly {not_an_assembly}", "is not a cloud assembly (no manifest.json)"),
    ("runs list --local", "no local cloud is running"),
    ("lineage seattle-weather:2 --local", "no local cloud is running"),
    ("local invoke FunctionsRetrainGuard --event {empty}", "empty.csv: the file is empty"),
    ("runs list", "no AWS credentials: run `aws configure`"),
    ("models list --stage prod --region eu-west-1", "no AWS credentials: run `aws configure`"),
    ("runs list --profile nosuch", "no AWS profile 'nosuch'"),
    ("monitor report --stage nosuch", "unknown stage 'nosuch'"),
    ("nosuch", "invalid choice: 'nosuch'"),
]


@pytest.mark.parametrize(("argv", "expected"), MISTAKES, ids=[argv for argv, _ in MISTAKES])
def test_a_mistake_is_one_line_exit_2_and_no_traceback(
    argv: str,
    expected: str,
    files: dict[str, str],
    no_aws: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # When the CLI is given the mistake
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main(argv.format(**files).split()))
    # Then it exits 2 with one line on stderr naming what is wrong, and nothing on stdout
    captured = capsys.readouterr()
    assert exited.value.code == 2, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], captured.err
    assert "Traceback" not in captured.err


def test_no_region_says_how_to_set_one(
    no_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert main(["runs", "list"]) == 2
    assert (
        capsys.readouterr().err
        == "error: no AWS region: pass --region, or set one with `aws configure` (or use --local)\n"
    )


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("mlops ")


def test_credentials_aws_refuses_are_one_line_saying_how_to_refresh_them(capsys: pytest.CaptureFixture[str]) -> None:
    from botocore.exceptions import ClientError

    from mlops.cli import guarded

    def expired() -> int:
        raise ClientError({"Error": {"Code": "ExpiredToken", "Message": "The security token has expired"}}, "Describe")

    assert guarded(expired) == 2
    assert capsys.readouterr().err == (
        "error: AWS refused your credentials (ExpiredToken): refresh them (`aws configure`, or `aws sso login`)\n"
    )


def test_openapi_documents_the_given_project_s_models_with_its_stage_s_auth(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from tests.projects import EXAMPLES

    assert main(["openapi", "--project", str(EXAMPLES / "stocks"), "--stage", "prod"]) == 0
    document = json.loads(capsys.readouterr().out)
    # (a one-model project's routes are served under /models/<name>/ and at the root)
    assert (
        "/models/stock-price/predict" in document["paths"]
        and "/models/seattle-weather/predict" not in document["paths"]
    )
    assert list(document["components"]["securitySchemes"]) == ["ApiKey"]
