"""DynamoDB tables: the model registry (C6) and the ML metadata store (C7)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from functions.registry.write_once import UPDATABLE_ATTRIBUTES
from functions.shared.settings import RUNS_BY_PIPELINE_INDEX
from infra.config import StageConfig
from infra.constructs.encryption import grant as grant_key

_READ = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"]
# TransactWriteItems is authorized per item action (PutItem, UpdateItem, ConditionCheckItem).
_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]


def _table(scope: Construct, construct_id: str, config: StageConfig, key: kms.IKey | None) -> dynamodb.Table:
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED if key else dynamodb.TableEncryption.AWS_MANAGED,
        encryption_key=key,
        removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
    )


class RegistryTable(Construct):
    """Model versions and their counter (``functions/registry/model_registry.py``)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = _table(self, "Table", config, key)

    def grant(self, grantee: iam.IGrantable, *, write: bool) -> None:
        """Read; with ``write``, put and condition-check any item but update only the counter and approvals.

        The alias history is write-once: its items are put conditioned on their absence (in code) and no
        grant allows rewriting or deleting them: ``UpdateItem`` is allowed only when every attribute the
        request names is one of ``UPDATABLE_ATTRIBUTES``, and ``DeleteItem`` is never granted. IAM has no
        condition key on a request's sort key or its ConditionExpression, so an unconditioned ``PutItem``
        over a history item cannot be refused by policy; only the registry's conditional put prevents it.
        """
        principal = grantee.grant_principal
        puts = ["dynamodb:PutItem", "dynamodb:ConditionCheckItem"] if write else []
        principal.add_to_principal_policy(iam.PolicyStatement(actions=_READ + puts, resources=[self.table.table_arn]))
        if write:
            principal.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["dynamodb:UpdateItem"],
                    resources=[self.table.table_arn],
                    conditions={"ForAllValues:StringEquals": {"dynamodb:Attributes": list(UPDATABLE_ATTRIBUTES)}},
                )
            )
        if self.table.encryption_key is not None:
            grant_key(self.table.encryption_key, grantee, write=write)


class MetadataTable(Construct):
    """Pipeline runs and step runs (``functions/metadata/metadata_store.py``)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = _table(self, "Table", config, key)
        self.table.add_global_secondary_index(
            index_name=RUNS_BY_PIPELINE_INDEX,
            partition_key=dynamodb.Attribute(name="gsi1pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="gsi1sk", type=dynamodb.AttributeType.STRING),
        )

    def grant(self, grantee: iam.IGrantable, *, write: bool) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=_READ + (_WRITE if write else []),
                resources=[
                    self.table.table_arn,
                    f"{self.table.table_arn}/index/{RUNS_BY_PIPELINE_INDEX}",
                ],
            )
        )
        if self.table.encryption_key is not None:
            grant_key(self.table.encryption_key, grantee, write=write)
