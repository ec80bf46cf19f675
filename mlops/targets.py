"""Where a command acts: a deployed stage (``--stage S``: stack ``Mlops-S``, with ``--region``/``--profile``)
or the running local cloud (``--local``). Both end as one boto3 client factory and the stack's outputs, so
every command has one code path; only the endpoint and the credentials differ.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from functions.project import Project
    from mlops.local.server import CloudState
    from mlops.operator import Backend

DEFAULT_STAGE = "dev"


class UsageError(Exception):
    """A user's mistake or missing set-up: the CLI prints its one-line message and exits 2."""


@dataclass(frozen=True)
class Target:
    """One place to act: its clients, its stack outputs and a description for messages."""

    clients: Callable[[str], Any]
    outputs: dict[str, Any]
    description: str
    local: CloudState | None = None

    def output(self, key: str) -> str:
        if key not in self.outputs:
            raise UsageError(
                f"{self.description} has no {key} output: deploy the current version of the stack "
                "(or restart the local cloud: `mlops local down && mlops local up`)"
            )
        return str(self.outputs[key])


def stack_name(stage: str) -> str:
    return f"Mlops-{stage}"


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """``--stage S`` | ``--local``, and ``--region``/``--profile`` for AWS."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--stage", type=known_stage, default=None, help=f"deployed stage: stack Mlops-STAGE (default {DEFAULT_STAGE})"
    )
    where.add_argument("--local", action="store_true", help="the running local cloud (start it: `mlops local up`)")
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS configuration's)")
    parser.add_argument("--profile", default=None, help="AWS named profile (default: your AWS configuration's)")


def known_stage(name: str) -> str:
    """argparse type: a stage of ``infra/config.py`` (checked before any AWS call)."""
    from infra.config import STAGES

    if name not in STAGES:
        raise argparse.ArgumentTypeError(f"unknown stage {name!r}; known stages: {', '.join(sorted(STAGES))}")
    return name


def aws_session(region: str | None, profile: str | None) -> Any:
    """A boto3 session, refused in one line (``aws configure``) when it has no region or no credentials."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.Session(region_name=region, profile_name=profile)
    except ProfileNotFound:
        raise UsageError(f"no AWS profile {profile!r}: `aws configure --profile {profile}` creates it") from None
    if session.region_name is None:
        raise UsageError("no AWS region: pass --region, or set one with `aws configure` (or use --local)")
    if session.get_credentials() is None:
        raise UsageError("no AWS credentials: run `aws configure` (or pass --profile), or use --local")
    return session


def resolve(args: argparse.Namespace) -> Target:
    """The target the arguments name: the local cloud's state, or the stage's stack outputs."""
    if getattr(args, "local", False):
        from mlops.local.server import clients, read_state

        state = read_state()
        return Target(clients(state), state.stack_outputs(), f"the local cloud at {state.endpoint}", state)
    from mlops.operator import stack_outputs

    stage = getattr(args, "stage", None) or DEFAULT_STAGE
    session = aws_session(getattr(args, "region", None), getattr(args, "profile", None))
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service)
        return made[service]

    name = stack_name(stage)
    return Target(client, stack_outputs(client("cloudformation"), name), f"stack {name} in {session.region_name}")


def backend(target: Target, project: Project | None) -> Backend:
    """The operator's view of a target (registry, metadata, pipeline)."""
    from mlops.operator import Backend

    return Backend.from_outputs(target.outputs, target.clients, project=project)


def project_of(target: Target, default: Path) -> Path:
    """The local cloud serves the project it was synthesized with; on AWS the ``--project`` folder is used."""
    if target.local is not None and target.local.project:
        return Path(target.local.project)
    return default
