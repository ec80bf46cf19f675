"""Operator commands (`mlops models|runs|lineage|experiment`) against a local cloud."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops.cli import build_parser, run_operator
from mlops.local import LocalCloud
from mlops.operator import Backend
from tests.helpers import run_training, shipped_frame, upload_raw

MODEL = "seattle-weather"


def cli(capsys: pytest.CaptureFixture[str], backend: Backend, *argv: str) -> str:
    """Parse ``argv`` with the CLI's own parser, then run the command against ``backend``."""
    capsys.readouterr()
    assert run_operator(build_parser().parse_args(list(argv)), backend) == 0
    return capsys.readouterr().out


def test_lineage_shows_the_whole_chain_and_rollback_is_audited(
    cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two pipeline runs, the second (on more data: an unchanged retrain is skipped) promoted over the first
    run_training(cloud, upload_raw(cloud, shipped_frame().iloc[:-60]))
    second = run_training(cloud, upload_raw(cloud))
    assert second.status == "SUCCEEDED" and second.output["promotion"]["promoted"], second.cause
    backend = Backend.from_cloud(cloud)
    # When the operator asks for the lineage of version 2
    out = cli(capsys, backend, "lineage", f"{MODEL}:2", "--local")
    # Then every link is there: trigger, data (hash), run, model version, the alias change it made
    assert f"run:{second.name}" in out
    assert "dataset:" in out and "trigger:" in out and f"model:{MODEL}:2" in out
    assert "alias_change:" in out and "from_version=1" in out and "to_version=2" in out
    for relation in ("started", "input_of", "produced", "aliased_as"):
        assert f"-[{relation}]->" in out
    # When the operator rolls champion back
    cli(capsys, backend, "models", "rollback", MODEL, "--reason", "v2 misbehaves", "--local")
    # Then champion is version 1 again, and the registry and the lineage both say who did it (their AWS
    # identity, from STS: no name is typed) and why
    assert backend.registry.resolve_alias(MODEL, "champion").version == 1
    operator = backend.sts.get_caller_identity()["Arn"]
    pipeline = registry_of_version(backend, 1).approval_by
    assert ":assumed-role/" in pipeline and pipeline != operator
    shown = json.loads(cli(capsys, backend, "models", "show", "--local"))
    moves = [(m["from_version"], m["to_version"], m["by"]) for m in shown["alias_history"]["champion"]]
    assert moves == [(None, 1, pipeline), (1, 2, pipeline), (2, 1, operator)]
    assert shown["alias_history"]["champion"][-1]["reason"] == "rollback: v2 misbehaves"
    changes = backend.metadata.lineage(MODEL, 1).of_kind("alias_change")
    assert sorted((c.attributes["to_version"], c.attributes["by"]) for c in changes) == sorted(
        [(1, operator), (1, pipeline)]
    )
    # And who decides cannot be typed: --by is gone
    with pytest.raises(SystemExit):
        build_parser().parse_args(["models", "approve", f"{MODEL}:2", "--reason", "r", "--by", "mallory"])


def registry_of_version(backend: Backend, version: int) -> Any:
    return backend.registry.get(MODEL, version)


def test_experiment_trains_through_the_pipeline_entrypoint_and_is_recorded(
    cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the shipped data and a pipeline run on it
    source = upload_raw(cloud)
    pipeline_run = run_training(cloud, source)
    backend = Backend.from_cloud(cloud)
    # When a data scientist runs an experiment on the same data
    result = json.loads(cli(capsys, backend, "experiment", "run", "--source", source, "--note", "baseline", "--local"))
    # Then it is recorded beside pipeline runs, comparable: same data hash, same artifact bytes, metrics
    run = backend.metadata.get_run(result["run_id"])
    assert run.pipeline == "experiment" and run.status == "SUCCEEDED"
    assert run.params["training_backend"] == "local"
    assert result["data_sha256"] == pipeline_run.output["dataset"]["sha256"]
    assert result["artifact_sha256"] == pipeline_run.output["candidate"]["sha256"]
    assert run.metrics["holdout_accuracy"] == pytest.approx(pipeline_run.output["evaluation"]["metrics"]["accuracy"])
    listed = json.loads(cli(capsys, backend, "runs", "list", "--pipeline", "experiment", "--local"))
    assert [r["run_id"] for r in listed] == [result["run_id"]]
