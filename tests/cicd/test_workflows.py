"""The GitHub Actions workflows: schema-valid, and shaped as docs/operations.md promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def validate(*paths: Path, schema: str = "vendor.github-workflows") -> subprocess.CompletedProcess[str]:
    """check-jsonschema against one of its vendored schemas (no network)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def load(name: str) -> dict[str, Any]:
    # YAML 1.1 reads the `on:` key as True; normalize it back.
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def test_every_workflow_matches_the_github_workflow_schema() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "deploy.yml"}
    result = validate(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_config_matches_its_schema_and_covers_actions_and_requirements() -> None:
    config = WORKFLOWS.parent / "dependabot.yml"
    result = validate(config, schema="vendor.dependabot")
    assert result.returncode == 0, result.stdout + result.stderr
    updates = yaml.safe_load(config.read_text())["updates"]
    assert {(u["package-ecosystem"], u["directory"]) for u in updates} == {
        ("github-actions", "/"),
        ("pip", "/"),
        ("pip", "/functions"),
    }


def test_a_malformed_workflow_is_rejected(tmp_path: Path) -> None:
    # Given a workflow whose job has no runs-on and an unknown key
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    step:\n      - run: make test\n")
    # When it is validated, Then validation fails naming the job
    result = validate(broken)
    assert result.returncode != 0
    assert "build" in result.stdout + result.stderr


def test_ci_runs_the_quality_gates_and_synth_on_push_and_pull_request() -> None:
    ci = load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    assert ci["permissions"] == {"contents": "read"}
    runs = [step.get("run", "") for job in ci["jobs"].values() for step in job["steps"]]
    assert any(run.startswith("make test") for run in runs)
    assert any(run.startswith("make synth") for run in runs)
    assert ci["jobs"]["synth"]["strategy"]["matrix"]["stage"] == ["dev", "prod"]


def test_deploy_uses_oidc_and_gates_prod_behind_the_protected_environment() -> None:
    deploy = load("deploy.yml")
    assert deploy["permissions"] == {"contents": "read"}, "no job gets a token unless it asks"
    jobs = deploy["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    for stage, condition in (("dev", "refs/heads/main"), ("prod", "refs/tags/v")):
        job = jobs[stage]
        assert job["needs"] == "ci"
        assert condition in job["if"]
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        assert job["concurrency"] == {"group": f"deploy-{stage}", "cancel-in-progress": False}
        (credentials,) = [
            s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")
        ]
        assert "role-to-assume" in credentials["with"]
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])
        deploy_step = job["steps"][-1]["run"]
        assert f"make synth STAGE={stage}" in deploy_step
        assert f"deploy Mlops-{stage}" in deploy_step
    assert jobs["prod"]["environment"] == {"name": "prod"}
    assert "environment" not in jobs["dev"]


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_third_party_actions_are_pinned_to_a_commit(name: str) -> None:
    # A tag can be moved to other code; a full commit SHA cannot (Dependabot keeps them current).
    for job in load(name)["jobs"].values():
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
