"""The stage's customer-managed KMS key: buckets, tables, log groups, the alarm topic and queues."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import StageConfig

# Explicit actions (no kms:*Encrypt* patterns): what each service calls on the key.
_SERVICE_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]
_LOGS_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
]
READ_ACTIONS = ["kms:Decrypt", "kms:DescribeKey"]
WRITE_ACTIONS = ["kms:Encrypt", "kms:GenerateDataKey"]


class DataKey(Construct):
    """One symmetric key with yearly automatic rotation, for the stage's data at rest.

    Identity policies grant its use per function (``grant``, called by the
    Storage and table grants); the key policy admits the AWS services that
    encrypt on the stack's behalf: CloudWatch Logs (log groups), CloudWatch
    alarms (publishing to the encrypted topic) and EventBridge (the encrypted
    dead-letter queue), each limited to this account.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{config.prefix}: data at rest (buckets, tables, logs, topic, queues)",
            alias=f"alias/{config.prefix.lower()}-data",
            enable_key_rotation=True,
            rotation_period=Duration.days(config.kms_rotation_days),
            pending_window=Duration.days(config.kms_deletion_window_days),
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptsThisStacksLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=_LOGS_ACTIONS,
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                        )
                    }
                },
            )
        )
        for sid, service in (
            ("CloudWatchAlarmsPublishToTheEncryptedTopic", "cloudwatch.amazonaws.com"),
            ("EventBridgeSendsToTheEncryptedDeadLetterQueue", "events.amazonaws.com"),
        ):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ServicePrincipal(service)],
                    actions=_SERVICE_ACTIONS,
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
                )
            )

    def grant(self, grantee: iam.IGrantable, *, write: bool) -> None:
        """Use of the key to read (and optionally write) data it encrypts."""
        grant(self.key, grantee, write=write)


def grant(key: kms.IKey, grantee: iam.IGrantable, *, write: bool) -> None:
    """Explicit key actions on this key's ARN only: decrypt to read, encrypt/data keys to write."""
    grantee.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(actions=READ_ACTIONS + (WRITE_ACTIONS if write else []), resources=[key.key_arn])
    )
