#!/usr/bin/env python3
"""CDK app: pick the stage (``-c stage=dev|prod``) and the project (``-c project=PATH``), build, run cdk-nag.

Both defaults live in ``cdk.json``'s context (stage ``dev``, the shipped demo project).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment

from functions.shared.errors import ProjectError
from infra.app_builder import build_app
from infra.config import StageConfigError


def synth_app(app: App, overrides: dict[str, Any] | None = None) -> None:
    """Build the stage and project the app's context names, run cdk-nag, write the assembly."""
    stage = app.node.try_get_context("stage") or "dev"
    project = app.node.try_get_context("project")
    if not project:
        sys.exit("error: no project: pass -c project=PATH (cdk.json sets the shipped demo by default)")
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    try:
        environment = Environment(account=account, region=region) if account and region else None
        build_app(app, stage, project, env=environment, overrides=overrides)
    except (ProjectError, StageConfigError) as exc:
        sys.exit(f"error: {exc}")
    app.synth()


def main() -> None:
    # `app.py --each SPECS.json` synthesizes several assemblies in one process ([{"out": DIR, "context": {...}}]):
    # the jsii runtime starts once, and each further assembly takes about a second instead of a whole synth. A
    # spec's "overrides" change stage settings for that assembly alone (the tests' variants of a stage).
    if len(sys.argv) == 3 and sys.argv[1] == "--each":
        for spec in json.loads(Path(sys.argv[2]).read_text()):
            synth_app(App(outdir=spec["out"], context=spec["context"]), spec.get("overrides"))
        return
    synth_app(App())


if __name__ == "__main__":
    main()
