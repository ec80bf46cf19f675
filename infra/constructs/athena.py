"""Athena over the offline store: the workgroup training sets past one function are joined in.

The workgroup enforces its configuration (callers cannot choose another results location or turn
encryption off): results in a bucket of their own, KMS-encrypted with the stage's data key, TLS-only,
expired by a lifecycle rule; a bytes-scanned cutoff per query bounds what one query can cost. ``grant``
gives a builder exactly what a join needs: queries in this workgroup only, the Glue catalog's feature
tables and the ``committed_files`` table (the paths each query may read, staged in the results bucket)
only, reads of the offline store's feature files, reads and writes of the results bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.feature_store.athena_join import COMMITTED_FILES_PARTITION, COMMITTED_FILES_PREFIX, COMMITTED_FILES_TABLE
from functions.shared import settings as env_names
from infra.config import StageConfig
from infra.constructs.encryption import grant as grant_key
from infra.nag import acknowledge

# Where the workgroup writes each query's own result file, and where the builders UNLOAD rows (one fresh
# prefix per query).
RESULTS_PREFIX = "results/"
UNLOAD_PREFIX = "training-sets/"


def _name(catalog_input: object) -> str:
    name = getattr(catalog_input, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"a Glue database or table input with a literal name is needed, got {catalog_input!r}")
    return name


class AthenaWorkgroup(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        key: kms.IKey | None,
        offline: s3.IBucket,
        database: glue.CfnDatabase,
        tables: Sequence[glue.CfnTable],
        access_logs: s3.IBucket,
    ) -> None:
        """``database`` and ``tables``: the feature store's Glue catalog (infra/constructs/feature_store.py)."""
        super().__init__(scope, construct_id)
        self._key, self._offline = key, offline
        self._database = _name(database.database_input)
        self._tables = tuple(_name(table.table_input) for table in tables)
        if COMMITTED_FILES_TABLE in self._tables:
            raise ValueError(f"a feature table may not be named {COMMITTED_FILES_TABLE!r}: the Athena path uses it")
        self.results = s3.Bucket(
            self,
            "Results",
            encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=key,
            bucket_key_enabled=key is not None,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="athena-results/",
            # Query results are feature rows: protected like every data bucket (versioned, kept by a stage that
            # retains data), but short-lived, since the training set itself is stored (and hashed) by the run.
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
            auto_delete_objects=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireQueryResults",
                    expiration=Duration.days(config.athena_results_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(id="RemoveExpiredDeleteMarkers", expired_object_delete_marker=True),
            ],
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=f"{config.prefix}-training-sets",
            description="Point-in-time training sets over the offline feature store",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=config.athena_bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.results.s3_url_for_object(RESULTS_PREFIX),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    )
                    if key
                    else athena.CfnWorkGroup.EncryptionConfigurationProperty(encryption_option="SSE_S3"),
                ),
            ),
        )
        self.workgroup.node.add_dependency(self.results)
        self.committed_files = self._committed_files_table(database)
        self.environment = {
            env_names.ATHENA_WORKGROUP: self.workgroup.ref,
            env_names.ATHENA_DATABASE: self._database,
            env_names.ATHENA_RESULTS: self.results.s3_url_for_object(UNLOAD_PREFIX),
            env_names.ATHENA_THRESHOLD_ROWS: str(config.athena_threshold_rows),
        }

    def _committed_files_table(self, database: glue.CfnDatabase) -> glue.CfnTable:
        """The paths each query may read (one Parquet file per query, written by the builder before it starts)."""
        location, partition = self.results.s3_url_for_object(COMMITTED_FILES_PREFIX), COMMITTED_FILES_PARTITION
        table = glue.CfnTable(
            self,
            "CommittedFiles",
            catalog_id=Stack.of(self).account,
            database_name=self._database,
            table_input=glue.CfnTable.TableInputProperty(
                name=COMMITTED_FILES_TABLE,
                description="The committed offline files one training-set query may read",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "parquet",
                    # Injected projection: a query must name its own partition (WHERE query = '<token>').
                    "projection.enabled": "true",
                    f"projection.{partition}.type": "injected",
                    "storage.location.template": f"{location}{partition}=${{{partition}}}/",
                },
                partition_keys=[glue.CfnTable.ColumnProperty(name=partition, type="string")],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                    ),
                    columns=[glue.CfnTable.ColumnProperty(name="path", type="string")],
                ),
            ),
        )
        table.add_dependency(database)
        return table

    @property
    def workgroup_arn(self) -> str:
        return Stack.of(self).format_arn(service="athena", resource="workgroup", resource_name=self.workgroup.ref)

    def grant(self, grantee: iam.IGrantable, role: iam.IRole) -> None:
        """What one join needs, and nothing else (``role``: the grantee's role, where findings are acknowledged)."""
        stack = Stack.of(self)
        principal = grantee.grant_principal
        statements = [
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:StopQueryExecution",
                ],
                resources=[self.workgroup_arn],
            ),
            iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(service="glue", resource="database", resource_name=self._database),
                    *(
                        stack.format_arn(service="glue", resource="table", resource_name=f"{self._database}/{table}")
                        for table in (*self._tables, COMMITTED_FILES_TABLE)
                    ),
                ],
            ),
            # Athena reads the feature files with the caller's credentials.
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self._offline.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["features/*"]}},
            ),
            # GetBucketLocation has no prefix condition key: it is granted on the buckets themselves.
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation"], resources=[self._offline.bucket_arn, self.results.bucket_arn]
            ),
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self._offline.arn_for_objects("features/*")]),
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:ListBucketMultipartUploads"], resources=[self.results.bucket_arn]
            ),
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                resources=[self.results.arn_for_objects("*")],
            ),
        ]
        for statement in statements:
            principal.add_to_principal_policy(statement)
        if self._key is not None:
            grant_key(self._key, grantee, write=True)
        for bucket, prefix, why in (
            (self._offline, "features/", "feature files are keyed by view, month and write id"),
            (self.results, "", "each query writes its results under its own id; the bucket holds nothing else"),
        ):
            bucket_resource = bucket.node.default_child
            assert isinstance(bucket_resource, CfnResource)
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(bucket_resource)}.Arn>/{prefix}*]",
                f"Object keys are not known at deploy time ({why}); the grant is limited to {prefix or 'this bucket'}.",
            )
