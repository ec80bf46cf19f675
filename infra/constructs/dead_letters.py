"""The dead-letter queues of rule targets and async functions: one shape everywhere."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge


def dead_letter_queue(
    scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey | None, serves: str
) -> sqs.Queue:
    """A TLS-only, stage-key-encrypted queue kept ``dead_letter_retention_days``; ``serves`` names its sources."""
    queue = sqs.Queue(
        scope,
        construct_id,
        enforce_ssl=True,
        encryption=sqs.QueueEncryption.KMS if key else sqs.QueueEncryption.SQS_MANAGED,
        encryption_master_key=key,
        retention_period=Duration.days(config.dead_letter_retention_days),
    )
    acknowledge(
        queue, "AwsSolutions-SQS3", f"This queue is the dead-letter queue of {serves}; it has no DLQ of its own."
    )
    acknowledge(
        queue,
        "Serverless-SQSRedrivePolicy",
        f"This queue is itself the dead-letter queue of {serves}; nothing consumes it automatically, an operator "
        "inspects and replays its messages (docs/operations.md).",
    )
    return queue
