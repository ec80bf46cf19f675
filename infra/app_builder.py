"""Build the stacks of a stage into an app; shared by ``app.py`` and the tests."""

from __future__ import annotations

from aws_cdk import App, Environment, Tags

from infra.config import stage_config
from infra.nag import add_nag_checks
from infra.stacks.mlops_stack import MlopsStack


def build_app(app: App, stage: str, *, env: Environment | None = None) -> list[MlopsStack]:
    config = stage_config(stage)
    stack = MlopsStack(
        app, config.prefix, config=config, env=env, description=f"Serverless MLOps toolkit, stage {config.name}"
    )
    Tags.of(app).add("project", "serverless-mlops")
    Tags.of(app).add("stage", config.name)
    add_nag_checks(app)
    return [stack]
