#!/usr/bin/env python3
"""CDK app: pick the stage (``-c stage=dev|prod``, default dev), build its stack, run cdk-nag."""

from __future__ import annotations

import os

from aws_cdk import App, Environment

from infra.app_builder import build_app


def main() -> None:
    app = App()
    stage = app.node.try_get_context("stage") or "dev"
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    build_app(app, stage, env=Environment(account=account, region=region) if account and region else None)
    app.synth()


if __name__ == "__main__":
    main()
