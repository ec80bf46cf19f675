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
        ("docker", "/functions"),
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


def step_named(job: dict[str, Any], name: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s.get("name") == name]
    return step


def test_deploy_uses_oidc_and_gates_prod_behind_the_protected_environment() -> None:
    deploy = load("deploy.yml")
    assert deploy["permissions"] == {"contents": "read"}, "no job gets a token unless it asks"
    jobs = deploy["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    for stage in ("dev", "prod"):
        job = jobs[stage]
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        assert job["concurrency"] == {"group": f"deploy-{stage}", "cancel-in-progress": False}
        # Each stage's job runs in the stage's environment: the OIDC subject its deploy role trusts
        assert job["environment"] == {"name": stage}
        (credentials,) = [
            s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")
        ]
        assert credentials["with"]["role-to-assume"] == f"${{{{ vars.AWS_DEPLOY_ROLE_ARN_{stage.upper()} }}}}"
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])
        deploy_step = step_named(job, f"cdk deploy ({stage})")["run"]
        assert f"make synth STAGE={stage}" in deploy_step
        assert f"deploy Mlops-{stage}" in deploy_step
    # dev deploys main and every release tag first; prod only a release, only after dev succeeded
    assert jobs["dev"]["needs"] == "ci"
    assert "refs/heads/main" in jobs["dev"]["if"] and "refs/tags/v" in jobs["dev"]["if"]
    assert jobs["prod"]["needs"] == ["ci", "dev"]
    assert "refs/tags/v" in jobs["prod"]["if"] and "needs.dev.result == 'success'" in jobs["prod"]["if"]
    assert "refs/heads/main" not in jobs["prod"]["if"]


def test_ci_builds_the_function_images_once_as_the_deploy_would() -> None:
    ci = load("ci.yml")
    image = ci["jobs"]["image"]
    assert "strategy" not in image, "one build, not one per stage"
    build = step_named(image, "docker build")["run"]
    assert build.index("make synth STAGE=dev") < build.index("python -m infra.image_assets build cdk.out --out images")
    (upload,) = [s for s in image["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["name"] == "function-images" and upload["with"]["path"] == "images"


def test_dev_and_prod_ship_the_built_images_and_prod_the_digests_dev_deployed() -> None:
    jobs = load("deploy.yml")["jobs"]
    for stage in ("dev", "prod"):
        job = jobs[stage]
        (download,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact@")]
        assert download["with"] == {"name": "function-images", "path": "images"}
        run = step_named(job, f"cdk deploy ({stage})")["run"]
        # The CI images are loaded and verified before cdk deploy, which then pushes them instead of building
        order = [
            run.index(part)
            for part in ("docker load --input images/images.tar", "infra.image_assets verify", "deploy Mlops-")
        ]
        assert order == sorted(order), run
    # dev publishes what it deployed, after its smoke test
    dev = jobs["dev"]
    names = [s.get("name") for s in dev["steps"]]
    assert (
        names.index("cdk deploy (dev)")
        < names.index("smoke test (dev)")
        < names.index("the image digests dev deployed")
    )
    assert "/health" in step_named(dev, "smoke test (dev)")["run"]
    published = step_named(dev, "the image digests dev deployed")
    assert dev["outputs"]["image-digests"] == f"${{{{ steps.{published['id']}.outputs.digests }}}}"
    assert '>> "$GITHUB_OUTPUT"' in published["run"]
    # prod refuses images that are not those digests (passed through the environment, not spliced into the script)
    prod_deploy = step_named(jobs["prod"], "cdk deploy (prod)")
    assert prod_deploy["env"]["DEV_IMAGE_DIGESTS"] == "${{ needs.dev.outputs.image-digests }}"
    assert '--expect "${DEV_IMAGE_DIGESTS}"' in prod_deploy["run"]
    assert "${{" not in prod_deploy["run"]


def test_function_images_pin_the_lambda_base_image_by_digest() -> None:
    functions = WORKFLOWS.parents[1] / "functions"
    bases = set()
    for dockerfile in ("Dockerfile", "Dockerfile.serving"):
        (base,) = [line for line in (functions / dockerfile).read_text().splitlines() if line.startswith("FROM ")]
        assert re.fullmatch(r"FROM public\.ecr\.aws/lambda/python:3\.12@sha256:[0-9a-f]{64}", base), base
        bases.add(base)
    assert len(bases) == 1, "both images start from the same base"


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_third_party_actions_are_pinned_to_a_commit(name: str) -> None:
    # A tag can be moved to other code; a full commit SHA cannot (Dependabot keeps them current).
    for job in load(name)["jobs"].values():
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
