"""The feature store (C4): offline S3 bucket + Glue tables, online DynamoDB table, feature pipeline.

- Offline: a bucket of its own (``features/<view>/v<n>/event_month=YYYY-MM/``,
  ``manifests/``, ``ingested/``, ``quarantine/``, ``staging/``), one Glue table
  per feature view version with partition projection on ``event_month``, so
  Athena queries it with no crawler and no partition registration.
- Online: one DynamoDB table (``pk`` entity key, ``sk`` view#version) with
  the TTL attribute set.
- Pipeline: ``stepfunctions/feature_pipeline.asl.json`` and its step
  functions; an EventBridge rule starts it when an object lands under
  ``raw/features/`` in the data bucket (whose EventBridge notifications the
  stack turns on), another when a batch's ``_SUCCESS`` marker lands under
  ``raw/feature-batches/<source>/<batch>/`` (a partitioned run: two
  Distributed Maps over the batch's part files).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.feature_store.materialization import MAX_SHARDS
from functions.shared import settings as env_names
from infra.asl import covering_timeout_s, longest_run
from infra.asl_timeouts import task_seconds
from infra.config import StageConfig
from infra.constructs.dead_letters import dead_letter_queue
from infra.constructs.encryption import grant as grant_key
from infra.constructs.function_factory import FunctionFactory
from infra.constructs.state_machines import allow_distributed_map, asl_state_machine
from infra.nag import acknowledge

if TYPE_CHECKING:
    from functions.feature_store.definitions import FeatureView

# state machine placeholder -> (construct id, handler)
STEPS: dict[str, tuple[str, str]] = {
    "FeatureRunFunctionArn": ("FeatureRun", "functions.handlers.feature_run.handler"),
    "ValidateFunctionArn": ("FeatureValidate", "functions.handlers.feature_validate.handler"),
    "TransformFunctionArn": ("FeatureTransform", "functions.handlers.feature_transform.handler"),
    "WriteOfflineFunctionArn": ("FeatureWriteOffline", "functions.handlers.feature_write_offline.handler"),
    "MaterializeFunctionArn": ("FeatureMaterialize", "functions.handlers.feature_materialize.handler"),
    "FeatureBatchFunctionArn": ("FeatureBatch", "functions.handlers.feature_batch.handler"),
    "ValidatePartitionFunctionArn": (
        "FeatureValidatePartition",
        "functions.handlers.feature_validate_partition.handler",
    ),
    "TransformPartitionFunctionArn": (
        "FeatureTransformPartition",
        "functions.handlers.feature_transform_partition.handler",
    ),
}
# What a prefix grant is given to: a step function, or the state machine (its Maps read and write S3).
_RoleHolder = lambda_.Function | sfn.StateMachine
# Child executions of each Distributed Map running at once (each one Lambda invocation of feature_step size).
PARTITION_CONCURRENCY = 10
# Part files one batch run takes (PlanBatch refuses more), and materialization shards per view (a backfill's).
MAX_BATCH_PARTS = 200
MAX_MATERIALIZE_SHARDS = MAX_SHARDS

_PARQUET = {
    "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}


class FeatureStore(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        factory: FunctionFactory,
        views: Sequence[FeatureView],
        access_logs: s3.IBucket,
        raw_bucket: s3.Bucket,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self._key = factory.key
        self.offline = s3.Bucket(
            self,
            "Offline",
            encryption=s3.BucketEncryption.KMS if factory.key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=factory.key,
            bucket_key_enabled=factory.key is not None,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="features/",
            removal_policy=removal,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireStaging", prefix="staging/", expiration=Duration.days(7))],
        )
        self.online = dynamodb.Table(
            self,
            "Online",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=(
                dynamodb.TableEncryption.CUSTOMER_MANAGED if factory.key else dynamodb.TableEncryption.AWS_MANAGED
            ),
            encryption_key=factory.key,
            time_to_live_attribute=env_names.ONLINE_TTL_ATTRIBUTE,
            removal_policy=removal,
        )
        self._catalog(config, views)

        env = {
            **environment,
            env_names.FEATURE_OFFLINE_BUCKET: self.offline.bucket_name,
            env_names.FEATURE_ONLINE_TABLE: self.online.table_name,
            env_names.FEATURE_MAX_BAD_ROW_FRACTION: str(config.feature_max_bad_row_fraction),
            env_names.FEATURE_CHUNK_ROWS: str(config.feature_chunk_rows),
        }
        self.functions: dict[str, lambda_.DockerImageFunction] = {
            placeholder: factory.function(
                step_id,
                handler=handler,
                sizing=config.pipeline_step if step_id == "FeatureRun" else config.feature_step,
                environment=env,
                description=f"Feature pipeline step {step_id}",
            )
            for placeholder, (step_id, handler) in STEPS.items()
        }
        self._grant_steps(raw_bucket)
        self.state_machine = self._state_machine(config, len(views))
        self._grant_maps(raw_bucket)
        self._trigger(config, raw_bucket)

    # -- pieces ------------------------------------------------------------------
    def _catalog(self, config: StageConfig, views: Sequence[FeatureView]) -> None:
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Stack.of(self).account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=f"mlops_{config.name}_features", description="Offline feature store (Parquet on S3)"
            ),
        )
        self.tables: dict[str, glue.CfnTable] = {}
        for view in views:
            location = f"s3://{self.offline.bucket_name}/features/{view.name}/v{view.version}/"
            table = glue.CfnTable(
                self,
                f"Table{view.name.title().replace('_', '')}V{view.version}",
                catalog_id=Stack.of(self).account,
                database_name=f"mlops_{config.name}_features",
                table_input=glue.CfnTable.TableInputProperty(
                    name=f"{view.name}_v{view.version}",
                    description=view.description or view.qualified_name,
                    table_type="EXTERNAL_TABLE",
                    parameters={
                        "classification": "parquet",
                        # Partition projection: Athena derives partitions from the path template.
                        "projection.enabled": "true",
                        "projection.event_month.type": "date",
                        "projection.event_month.format": "yyyy-MM",
                        "projection.event_month.range": "1970-01,NOW",
                        "projection.event_month.interval": "1",
                        "projection.event_month.interval.unit": "MONTHS",
                        "storage.location.template": location + "event_month=${event_month}/",
                    },
                    partition_keys=[glue.CfnTable.ColumnProperty(name="event_month", type="string")],
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        location=location,
                        input_format=_PARQUET["input_format"],
                        output_format=_PARQUET["output_format"],
                        serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=_PARQUET["serde"]),
                        columns=[
                            glue.CfnTable.ColumnProperty(name=f.name, type=f.dtype.glue_type, comment=f.description)
                            for f in view.stored_schema
                        ],
                    ),
                ),
            )
            table.add_dependency(self.database)
            self.tables[view.qualified_name] = table

    def _state_machine(self, config: StageConfig, views: int) -> sfn.StateMachine:
        name = f"{config.prefix}-feature-pipeline"
        values: dict[str, int | str] = {
            "StepTimeoutSeconds": config.feature_step.timeout_s + 30,
            "PartitionConcurrency": PARTITION_CONCURRENCY,
            "MaxBatchParts": MAX_BATCH_PARTS,
            "MaxMaterializeShards": MAX_MATERIALIZE_SHARDS,
        }
        rounds = map_rounds(views)
        values.update(pipeline_timeouts(config, values, rounds))
        machine = asl_state_machine(
            self,
            config=config,
            key=self._key,
            asl="feature_pipeline",
            values=values,
            functions=self.functions,
            # The Maps write their result files (not the state payload) under staging/map-results/.
            other_substitutions={"FeatureOfflineBucketName": self.offline.bucket_name},
            name=name,
            map_rounds=rounds,
        )
        allow_distributed_map(machine, name)
        return machine

    def _grant_maps(self, raw_bucket: s3.Bucket) -> None:
        """The Maps list a batch folder, read the reconciled plan, and write their results to staging/."""
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[raw_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{env_names.RAW_FEATURE_BATCHES_PREFIX}*"]}},
            )
        )
        # GetObject: the plan (second Map's ItemReader); the rest: ResultWriter's (multipart) result files.
        self._grant_prefix(
            self.state_machine,
            "staging/",
            ["s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
            "the batch plan and the Map result files are keyed by run id and map run id",
        )

    def _trigger(self, config: StageConfig, raw_bucket: s3.Bucket) -> None:
        self.dead_letters = dead_letter_queue(
            self, "TriggerDeadLetters", config=config, key=self._key, serves="the feature pipeline trigger"
        )
        bucket = events.EventField.from_path("$.detail.bucket.name")
        key = events.EventField.from_path("$.detail.object.key")
        self.new_raw_data = events.Rule(
            self,
            "NewRawData",
            description=f"New raw data under {env_names.RAW_FEATURES_PREFIX} starts the feature pipeline",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [raw_bucket.bucket_name]},
                    "object": {"key": [{"prefix": env_names.RAW_FEATURES_PREFIX}]},
                },
            ),
        )
        self.new_raw_data.add_target(
            targets.SfnStateMachine(
                self.state_machine,
                input=events.RuleTargetInput.from_object(
                    {
                        "source_uri": f"s3://{bucket}/{key}",
                        "trigger": {"type": "s3", "key": key, "time": events.EventField.time},
                    }
                ),
                dead_letter_queue=self.dead_letters,
                retry_attempts=3,
                max_event_age=Duration.hours(2),
            )
        )
        # A batch's part files start nothing (they are under their own prefix); its _SUCCESS marker,
        # written last by the producer, starts one partitioned run over the folder.
        marker = f"{env_names.RAW_FEATURE_BATCHES_PREFIX}*/{env_names.BATCH_MARKER}"
        self.new_raw_batch = events.Rule(
            self,
            "NewRawBatch",
            description=(
                f"A {env_names.BATCH_MARKER} marker under {env_names.RAW_FEATURE_BATCHES_PREFIX}<source>/<batch>/ "
                "starts a partitioned feature pipeline run"
            ),
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [raw_bucket.bucket_name]},
                    "object": {"key": [{"wildcard": marker}]},
                },
            ),
        )
        self.new_raw_batch.add_target(
            targets.SfnStateMachine(
                self.state_machine,
                input=events.RuleTargetInput.from_object(
                    {
                        "batch_marker_uri": f"s3://{bucket}/{key}",
                        "trigger": {"type": "s3", "key": key, "time": events.EventField.time},
                    }
                ),
                dead_letter_queue=self.dead_letters,
                retry_attempts=3,
                max_event_age=Duration.hours(2),
            )
        )

    # -- grants --------------------------------------------------------------------
    def _grant_steps(self, raw_bucket: s3.Bucket) -> None:
        steps = {step_id: self.functions[p] for p, (step_id, _) in STEPS.items()}
        get, put = ["s3:GetObject"], ["s3:PutObject"]
        self._grant_raw(steps["FeatureValidate"], raw_bucket)
        self._grant_raw(steps["FeatureValidate"], raw_bucket, env_names.RAW_BACKFILL_PREFIX)
        self._grant_prefix(steps["FeatureValidate"], "staging/", put, "staged rows are keyed by run id")
        self._grant_prefix(steps["FeatureValidate"], "quarantine/", put, "quarantine files are keyed by run id")
        self._grant_prefix(steps["FeatureTransform"], "staging/", get + put, "staged rows are keyed by run id")
        writer = steps["FeatureWriteOffline"]
        self._grant_prefix(writer, "staging/", get, "staged rows are keyed by run id")
        for prefix in ("features/", "manifests/", "ingested/"):
            self._grant_prefix(writer, prefix, get + put, "offline files are keyed by view, month and write id")
        self.grant_read_offline(writer)
        self._grant_batch_steps(steps, raw_bucket)
        materializer = steps["FeatureMaterialize"]
        self.grant_read_offline(materializer)
        materializer.add_to_role_policy(
            iam.PolicyStatement(
                # BatchGetItem + BatchWriteItem: read-compare writes; PutItem/DeleteItem: watermark and lease.
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                ],
                resources=[self.online.table_arn],
            )
        )
        if self._key is not None:
            grant_key(self._key, materializer, write=True)
        # A batch's shards: the plan and each shard's counts under staging/<run id>/materialize/.
        self._grant_prefix(materializer, "staging/", get + put, "staged shard plans and results are keyed by run id")
        # A failed run gives back the materialization leases it held (RecordFailure -> FeatureRun finish).
        run = steps["FeatureRun"]
        run.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:DeleteItem"], resources=[self.online.table_arn]))
        if self._key is not None:
            grant_key(self._key, run, write=True)

    def _grant_batch_steps(self, steps: Mapping[str, lambda_.Function], raw_bucket: s3.Bucket) -> None:
        get, put = ["s3:GetObject"], ["s3:PutObject"]
        validate = steps["FeatureValidatePartition"]
        self._grant_raw(validate, raw_bucket, env_names.RAW_FEATURE_BATCHES_PREFIX)
        self._grant_prefix(validate, "staging/", put, "staged rows are keyed by run id")
        self._grant_prefix(validate, "quarantine/", put, "quarantine files are keyed by run id")
        batch = steps["FeatureBatch"]
        batch.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.offline.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["staging/*"]}},
            )
        )
        # PlanBatch counts the batch's part files before any Map starts.
        batch.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[raw_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{env_names.RAW_FEATURE_BATCHES_PREFIX}*"]}},
            )
        )
        self._grant_prefix(batch, "staging/", get + put, "staged rows are keyed by run id")
        self._grant_prefix(batch, "quarantine/", put, "quarantine files are keyed by run id")
        writer = steps["FeatureTransformPartition"]
        self._grant_prefix(writer, "staging/", get + put, "staged rows are keyed by run id")
        for prefix in ("features/", "manifests/", "ingested/"):
            self._grant_prefix(writer, prefix, get + put, "offline files are keyed by view, month and write id")
        self.grant_read_offline(writer)

    def grant_read_offline(self, grantee: lambda_.Function) -> None:
        """List and read committed offline writes (manifests and feature files): what training sets need."""
        grantee.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.offline.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["manifests/*", "features/*", "ingested/*"]}},
            )
        )
        for prefix in ("manifests/", "features/", "ingested/"):
            self._grant_prefix(grantee, prefix, ["s3:GetObject"], "offline files are keyed by view, month and write id")

    def grant_feedback_join(self, grantee: lambda_.Function, view_name: str) -> None:
        """Append to one model's feedback view (labelled rows joined from captures), its join state and quarantine."""
        grantee.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.offline.bucket_arn],
                # Listing also makes a missing marker or state a 404 rather than a 403 (first join, first write).
                conditions={
                    "StringLike": {"s3:prefix": [f"{p}/{view_name}/*" for p in ("manifests", "ingested", "joins")]}
                },
            )
        )
        for prefix in ("features", "manifests", "ingested", "joins", "quarantine"):
            self._grant_prefix(
                grantee,
                f"{prefix}/{view_name}/",
                ["s3:GetObject", "s3:PutObject"],
                "the feedback view's files are keyed by month and join run",
            )

    def grant_read_online(self, grantee: iam.IGrantable) -> None:
        """Read online features (BatchGetItem/GetItem on the one table)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:BatchGetItem"], resources=[self.online.table_arn]
            )
        )
        if self._key is not None:
            grant_key(self._key, grantee, write=False)

    def _grant_raw(
        self, grantee: lambda_.Function, raw_bucket: s3.Bucket, prefix: str = env_names.RAW_FEATURES_PREFIX
    ) -> None:
        grantee.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[raw_bucket.arn_for_objects(f"{prefix}*")])
        )
        self._acknowledge_prefix(grantee, raw_bucket, prefix, "raw files are named by whoever lands them")
        if raw_bucket.encryption_key is not None:
            grant_key(raw_bucket.encryption_key, grantee, write=False)

    def _grant_prefix(self, grantee: _RoleHolder, prefix: str, actions: list[str], why: str) -> None:
        grantee.add_to_role_policy(
            iam.PolicyStatement(actions=actions, resources=[self.offline.arn_for_objects(f"{prefix}*")])
        )
        if self._key is not None:
            grant_key(self._key, grantee, write="s3:PutObject" in actions)
        self._acknowledge_prefix(grantee, self.offline, prefix, why)

    def _acknowledge_prefix(self, grantee: _RoleHolder, bucket: s3.Bucket, prefix: str, why: str) -> None:
        bucket_resource = bucket.node.default_child
        assert isinstance(bucket_resource, CfnResource)
        logical_id = Stack.of(self).get_logical_id(bucket_resource)
        role = grantee.role
        assert role is not None
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{prefix}*]",
            f"Object keys are not known at deploy time ({why}); the grant is limited to {prefix}.",
        )


def map_rounds(views: int) -> dict[str, int]:
    """The most rounds each Map runs: a batch's parts (PlanBatch refuses more), every view's shards."""
    parts = math.ceil(MAX_BATCH_PARTS / PARTITION_CONCURRENCY)
    shards = math.ceil(max(views, 1) * MAX_MATERIALIZE_SHARDS / PARTITION_CONCURRENCY)
    return {"ValidatePartitions": parts, "TransformPartitions": parts, "MaterializeShards": shards}


def pipeline_timeouts(
    config: StageConfig, values: Mapping[str, int | str], rounds: Mapping[str, int]
) -> dict[str, int]:
    """The feature pipeline's TimeoutSeconds (its longest run, every step at its maximum with retries, never less
    than the stage's ``pipeline_timeout_s``) and the materialization lease of a batch's run (the shards' Map and
    FinishMaterialization at their maximum: a run that dies without recording its failure frees it then)."""
    probe = {**values, "PipelineTimeoutSeconds": config.pipeline_timeout_s, "MaterializeLeaseSeconds": 0}
    document, seconds = longest_run("feature_pipeline", probe, rounds)
    states = document["States"]
    shard = states["MaterializeShards"]["ItemProcessor"]["States"]["MaterializeShard"]
    lease = rounds["MaterializeShards"] * task_seconds(shard) + task_seconds(states["FinishMaterialization"])
    return {
        "PipelineTimeoutSeconds": covering_timeout_s(seconds, config.pipeline_timeout_s),
        "MaterializeLeaseSeconds": math.ceil(lease / 60) * 60,
    }
