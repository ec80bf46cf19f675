"""Build the stacks of a stage into an app; shared by ``app.py`` and the tests."""

from __future__ import annotations

from aws_cdk import App, Environment, Stack, Tags

from infra.cicd_config import CICD
from infra.config import stage_config
from infra.nag import add_nag_checks
from infra.stacks.cicd_stack import STACK_NAME as CICD_STACK_NAME
from infra.stacks.cicd_stack import CicdStack
from infra.stacks.mlops_stack import MlopsStack


def build_app(app: App, stage: str, *, env: Environment | None = None) -> list[Stack]:
    """The stage's MlopsStack first, then the account's CI/CD stack (deployed separately, once)."""
    config = stage_config(stage)
    stack = MlopsStack(
        app, config.prefix, config=config, env=env, description=f"Serverless MLOps toolkit, stage {config.name}"
    )
    cicd = CicdStack(
        app, CICD_STACK_NAME, config=CICD, env=env, description="GitHub OIDC deploy roles of the MLOps toolkit"
    )
    Tags.of(app).add("project", "serverless-mlops")
    Tags.of(stack).add("stage", config.name)
    add_nag_checks(app)
    return [stack, cicd]
