"""Build the stacks of a stage and a project into an app; shared by ``app.py`` and the tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack, Tags

from functions.project import load_project
from functions.project.samples import check_sample_data
from infra.cicd_config import CICD
from infra.config import stage_config
from infra.nag import add_nag_checks
from infra.stacks.cicd_stack import STACK_NAME as CICD_STACK_NAME
from infra.stacks.cicd_stack import CicdStack
from infra.stacks.mlops_stack import MlopsStack


def build_app(
    app: App,
    stage: str,
    project_dir: str | Path,
    *,
    env: Environment | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> list[Stack]:
    """The stage's MlopsStack for the project in ``project_dir``, then the account's CI/CD stack (if it hosts a stage).

    The project is loaded (and so checked) here: a broken project fails synth, before anything deploys.
    ``overrides``: stage settings changed from the stage's code (``app.py --each`` specs; validated as the
    stage's own are). A deployment's settings are the stage's code, never an override.
    """
    project = load_project(project_dir)
    check_sample_data(project)
    config = replace(stage_config(stage), model_name=project.models[0].name, **dict(overrides or {}))
    stack = MlopsStack(
        app,
        config.prefix,
        config=config,
        project=project,
        env=env,
        description=f"Serverless MLOps toolkit, stage {config.name}, project {project.name}",
    )
    stacks: list[Stack] = [stack]
    # The deploy roles of the stages in this account (all of them when the account is unknown); an account that
    # hosts no stage of CICD.stage_accounts (a manual deploy to a personal account) gets no Mlops-cicd stack.
    if CICD.stages_in(env.account if env else None):
        stacks.append(
            CicdStack(
                app, CICD_STACK_NAME, config=CICD, env=env, description="GitHub OIDC deploy roles of the MLOps toolkit"
            )
        )
    Tags.of(app).add("project", "serverless-mlops")
    Tags.of(stack).add("stage", config.name)
    Tags.of(stack).add("mlops-project", project.name)
    add_nag_checks(app)
    return stacks
