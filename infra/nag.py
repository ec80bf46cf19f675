"""cdk-nag wiring: packs on the app, narrow acknowledgements with reasons."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import IConstruct


def add_nag_checks(app: App) -> None:
    """Run the AwsSolutions and Serverless packs on every synth; unacknowledged findings fail it."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one finding (``Rule`` or ``Rule[FindingId]``) on ``scope`` with a reason."""
    if len(reason) < 20:
        raise ValueError(f"acknowledgement of {finding} needs a real reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))
