"""The README's operator workflow (`mlops train|runs|models|lineage|experiment --local`) against one persistent
local cloud: a ``LocalCloudServer`` started once for the module, in this process, reached over HTTP exactly as
`mlops local up`'s background process is (the CLI reads its state file and sends boto3 calls to its endpoint).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from functions.retraining.guard_store import RetrainGuardStore
from mlops.cli import build_parser, main
from mlops.local.server import STATE_DIR_ENV, LocalCloudServer, clients
from mlops.operator import Backend, manual_policy
from tests.helpers import shipped_frame, upload_raw

MODEL = "seattle-weather"


@pytest.fixture(scope="module")
def server(assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudServer]:
    """A running local cloud holding one trained version (v1, trained without the last 60 days)."""
    directory = tmp_path_factory.mktemp("local-cloud")
    with (
        pytest.MonkeyPatch.context() as patch,
        LocalCloudServer(assembly, directory=directory, load_sample_data=False) as running,
    ):
        patch.setenv(STATE_DIR_ENV, str(directory))
        assert running.cloud is not None
        source = upload_raw(running.cloud, shipped_frame().iloc[:-60])
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert main(["train", "--local", "--source", source, "--output", "json"]) == 0
        settle(running)
        running.first_run = json.loads(out.getvalue())["run"]["run_id"]  # type: ignore[attr-defined]
        yield running


def settle(server: LocalCloudServer) -> None:
    """Wait until every training execution's status event was delivered (so the guard released its lock)."""
    assert server.cloud is not None
    sfn = server.cloud.client("stepfunctions")
    machine = server.cloud.output("TrainingStateMachineArn")
    for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
        server.cloud.wait_for_execution(execution["executionArn"])


@pytest.fixture
def backend(server: LocalCloudServer) -> Backend:
    assert server.state is not None
    return Backend.from_outputs(server.state.stack_outputs(), clients(server.state))


def cli(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> str:
    """Run ``mlops ARGV`` in this process; its stdout (asserting the exit status)."""
    capsys.readouterr()
    assert main(list(argv)) == status, capsys.readouterr().err
    return capsys.readouterr().out


def error_of(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 2) -> str:
    """The one line a refused command prints on stderr (no traceback)."""
    capsys.readouterr()
    assert main(list(argv)) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_operator_workflow_train_runs_promote_lineage_rollback_across_commands(
    server: LocalCloudServer, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run trained by an earlier command (the fixture's), the cloud keeps it for later commands
    first: str = server.first_run  # type: ignore[attr-defined]
    listed = json.loads(cli(capsys, "runs", "list", "--local", "--output", "json"))
    assert first in [r["run_id"] for r in listed]
    shown = cli(capsys, "runs", "show", first, "--local")
    assert "BuildTrainingSet" in shown and "Promote" in shown and "type=manual" in shown
    # When the operator trains again on more data, in another command
    assert server.cloud is not None
    source = upload_raw(server.cloud)
    second = json.loads(cli(capsys, "train", "--local", "--source", source, "--output", "json"))
    assert second["status"] == "SUCCEEDED", second["cause"]
    run_id = second["run"]["run_id"]
    # Then asked for the lineage of version 2 (written as the README and the demo write it: v2)
    out = cli(capsys, "lineage", f"{MODEL}:v2", "--local")
    # every link is there: trigger, data (hash), run, model version, the alias change it made
    assert f"run:{run_id}" in out
    assert "dataset:" in out and "trigger:" in out and f"model:{MODEL}:2" in out
    assert "alias_change:" in out and "from_version=1" in out and "to_version=2" in out
    for relation in ("started", "input_of", "produced", "aliased_as"):
        assert f"-[{relation}]->" in out
    # When the operator rolls champion back
    cli(capsys, "models", "rollback", MODEL, "--reason", "v2 misbehaves", "--local")
    # Then champion is version 1 again, and the registry says who did it (their AWS identity, from STS: no
    # name is typed) and why
    assert backend.registry.resolve_alias(MODEL, "champion").version == 1
    operator = backend.sts.get_caller_identity()["Arn"]
    pipeline = backend.registry.get(MODEL, 1).approval_by
    assert ":assumed-role/" in pipeline and pipeline != operator
    shown_model = json.loads(cli(capsys, "models", "show", "--local", "--output", "json"))
    moves = [(m["from_version"], m["to_version"], m["by"]) for m in shown_model["alias_history"]["champion"]]
    assert moves == [(None, 1, pipeline), (1, 2, pipeline), (2, 1, operator)]
    assert shown_model["alias_history"]["champion"][-1]["reason"] == "rollback: v2 misbehaves"
    # And promote takes v-prefixed versions too, printed as a table a person reads
    table = cli(capsys, "models", "promote", f"{MODEL}:v2", "--reason", "approved release", "--local")
    assert "to_version" in table and "approved release" in table
    # And who decides cannot be typed: --by is gone
    with pytest.raises(SystemExit):
        build_parser().parse_args(["models", "approve", f"{MODEL}:2", "--reason", "r", "--by", "mallory"])


def test_experiment_trains_through_the_pipeline_entrypoint_and_is_recorded(
    server: LocalCloudServer, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the pipeline's first run and its data
    assert server.cloud is not None
    source = upload_raw(server.cloud, shipped_frame().iloc[:-60])
    pipeline_run = backend.metadata.get_run(server.first_run)  # type: ignore[attr-defined]
    # When a data scientist runs an experiment on the same data
    result = json.loads(cli(capsys, "experiment", "run", "--source", source, "--note", "baseline", "--local",
                            "--experiment", "baseline", "--output", "json"))  # fmt: skip
    # Then it is recorded beside pipeline runs, comparable: same data hash, same metrics
    run = backend.metadata.get_run(result["run_id"])
    assert run.pipeline == "experiment" and run.status == "SUCCEEDED"
    assert run.params["training_backend"] == "local"
    assert result["data_sha256"] == backend.registry.get(MODEL, 1).training_data_sha256
    assert run.metrics["holdout_accuracy"] == pytest.approx(pipeline_run.metrics["holdout_accuracy"])
    listed = json.loads(cli(capsys, "runs", "list", "--pipeline", "experiment", "--local", "--output", "json"))
    assert result["run_id"] in [r["run_id"] for r in listed]
    of_experiment = json.loads(cli(capsys, "runs", "list", "--experiment", "baseline", "--local", "--output", "json"))
    assert [r["run_id"] for r in of_experiment] == [result["run_id"]]
    # And `runs compare` puts it beside the pipeline's run, marking what differs (where it trained) and not the
    # holdout accuracy both reached on the same data
    compared = json.loads(cli(capsys, "runs", "compare", server.first_run, result["run_id"], "--local",  # type: ignore[attr-defined]
                              "--output", "json"))  # fmt: skip
    rows = {(r["kind"], r["name"]): r for r in compared["rows"]}
    assert (
        rows[("param", "training_backend")]["differs"] and rows[("param", "training_backend")]["values"][1] == "local"
    )
    assert not rows[("metric", "holdout_accuracy")]["differs"]
    assert "≠" in cli(capsys, "runs", "compare", server.first_run, result["run_id"], "--local", "--differences")  # type: ignore[attr-defined]
    # And a parameter the estimator does not take is refused before any work, naming it
    assert "nosuch" in error_of(capsys, "experiment", "run", "--param", "nosuch=1", "--local")


def test_a_cli_start_is_refused_while_another_run_holds_the_guard_s_lock(
    server: LocalCloudServer, backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a scheduled retrain holds the model's single-run lock (taken as the guard takes it)
    settle(server)
    store = RetrainGuardStore(backend.dynamodb, backend.guard_table, MODEL)
    now = datetime.now(UTC)
    assert store.acquire(now, manual_policy("dev"), "pending:scheduled-retrain")
    before = len(backend.metadata.list_runs("training", limit=100))
    try:
        # When the operator starts a run from the CLI
        line = error_of(capsys, "train", "--local", status=1)
    finally:
        store.abandon(now, "pending:scheduled-retrain")
    # Then it is refused in one line naming the holder, and nothing started
    assert line == (
        "error: TrainingRefused: training not started: a training run holds the lock: pending:scheduled-retrain "
        "(the retrain guard's single-run lock)"
    )
    assert len(backend.metadata.list_runs("training", limit=100)) == before


# Mistakes against a running cloud: each one line, exit 2, no traceback (the rest of the table, which needs no
# cloud, is tests/unit/test_cli_errors.py).
UNKNOWN_NAMES: list[tuple[list[str], str]] = [
    (["runs", "show", "nope"], "error: no run 'nope': `mlops runs list` shows recent runs"),
    (["models", "promote", f"{MODEL}:v9", "--reason", "r"], f"error: model '{MODEL}' has no version 9 (versions: 1"),
    (["models", "approve", f"{MODEL}:9", "--reason", "r"], f"error: model '{MODEL}' has no version 9"),
    (["models", "rollback", "nosuchmodel", "--reason", "r"], "error: no such model 'nosuchmodel'"),
    (["models", "show", "nosuchmodel"], "error: no such model 'nosuchmodel'"),
    (["lineage", f"{MODEL}:9"], f"error: model '{MODEL}' has no version 9"),
    (["lineage", "--feature-view", "hourly"], "error: no training set recorded from feature view 'hourly'"),
    (["lineage", "--dataset", "ab" * 32], "error: no training set with manifest or data sha256"),
    (["train", "--model", "nosuchmodel"], "error: no model 'nosuchmodel' in project 'seattle_weather'"),
    (["train", "--source", "s3://b/k.csv", "--start", "2015-01-01"], "error: --start/--end/--as-of select from"),
]


@pytest.mark.parametrize(("argv", "start"), UNKNOWN_NAMES, ids=[" ".join(a[:2]) for a, _ in UNKNOWN_NAMES])
def test_an_unknown_name_is_one_line_and_exit_2(
    server: LocalCloudServer, capsys: pytest.CaptureFixture[str], argv: list[str], start: str
) -> None:
    assert error_of(capsys, *argv, "--local").startswith(start)


def test_status_counts_what_the_cloud_holds(server: LocalCloudServer, capsys: pytest.CaptureFixture[str]) -> None:
    status: dict[str, Any] = json.loads(cli(capsys, "local", "status", "--output", "json"))
    assert server.state is not None and status["endpoint"] == server.state.endpoint
    assert status["runs"]["training"] >= 0 and set(status["model_versions"]) <= {MODEL}


def test_local_invoke_runs_one_template_function_with_an_event_and_prints_its_logs(
    server: LocalCloudServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an event file for the retrain guard (a finished execution that holds no lock)
    execution = "arn:aws:states:us-east-1:123456789012:execution:x:y"
    event = {"detail-type": "Step Functions Execution Status Change",
             "detail": {"status": "SUCCEEDED", "executionArn": execution}}  # fmt: skip
    (tmp_path / "event.json").write_text(json.dumps(event))
    # When it is invoked by its logical-id prefix
    capsys.readouterr()
    assert main(["local", "invoke", "FunctionsRetrainGuard", "--event", str(tmp_path / "event.json")]) == 0
    # Then the handler's result is printed
    assert json.loads(capsys.readouterr().out)["outcome"] == "not_holder"
    # And an event it refuses fails the invocation: its log lines (the error and its traceback), then one error line
    (tmp_path / "bad.json").write_text(json.dumps({"detail-type": "nothing"}))
    capsys.readouterr()
    assert main(["local", "invoke", "FunctionsRetrainGuard", "--event", str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("log | [ERROR] InvalidRequestError: unknown trigger event") for line in err)
    assert err[-1].startswith("error: Mlops-dev-FunctionsRetrainGuard") and "InvalidRequestError" in err[-1]
    # And a function the template does not have is one line
    assert error_of(capsys, "local", "invoke", "NoSuchFunction", "--event", str(tmp_path / "event.json")).startswith(
        "error: no function of the template is named or has a logical id starting 'NoSuchFunction'"
    )


def test_start_api_prints_the_running_cloud_s_url_and_key(
    server: LocalCloudServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert server.state is not None and server.state.api_url and server.state.api_key
    out = cli(capsys, "local", "start-api")
    assert f"API     {server.state.api_url}" in out and f"API key {server.state.api_key}" in out


def test_monitor_report_reads_the_local_cloud(
    server: LocalCloudServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a cloud whose monitor has not run yet: the report command reaches it and says so in one line
    line = error_of(capsys, "monitor", "report", "--local", "--out", str(tmp_path))
    assert line.startswith("error: no monitor runs for model 'seattle-weather' in s3://")
