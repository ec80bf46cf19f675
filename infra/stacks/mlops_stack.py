"""The MLOps stack of one stage: storage, registry, metadata, training pipeline, inference API."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from functions.feature_store.feedback import feedback_view_name
from functions.monitoring.alarm_rules import live_quality_alarm
from functions.project import Project
from functions.serving.online_view import describe_online_view
from functions.shared import settings as env_names
from infra.code_version import functions_sha256, git_commit, requirements_sha256
from infra.config import StageConfig
from infra.constructs.athena import AthenaWorkgroup
from infra.constructs.batch_inference import BatchInference
from infra.constructs.encryption import DataKey
from infra.constructs.failure_alarms import FailureAlarms
from infra.constructs.feature_store import FeatureStore
from infra.constructs.function_factory import FunctionFactory, project_sha256
from infra.constructs.inference_api import InferenceApi
from infra.constructs.model_rollout import ModelRollout
from infra.constructs.monitoring import Monitoring
from infra.constructs.storage import Storage
from infra.constructs.tables import MetadataTable, RegistryTable
from infra.constructs.training_pipeline import TrainingPipeline

# A training table brought as shipped (`mlops train --source`) can be put here.
RAW_DATASET_KEY = "raw/dataset.csv"


def model_suffix(project: Project, model: str) -> str:
    """What tells a model's resources apart: nothing for a one-model project, else its name in PascalCase."""
    if len(project.models) == 1:
        return ""
    return "".join(part.capitalize() for part in model.replace("_", "-").split("-"))


class MlopsStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, project: Project, **kwargs: object
    ) -> None:
        """``config.model_name``: the model the stack's operator outputs (and batch inference) default to."""
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        key = DataKey(self, "DataKey", config=config).key
        storage = Storage(self, "Storage", config=config, key=key)
        registry = RegistryTable(self, "Registry", config=config, key=key)
        metadata = MetadataTable(self, "Metadata", config=config, key=key)
        factory = FunctionFactory(self, "Functions", config=config, project=project, key=key)

        pipeline = TrainingPipeline(
            self,
            "TrainingPipeline",
            config=config,
            factory=factory,
            environment={
                env_names.DATA_BUCKET: storage.data.bucket_name,
                env_names.ARTIFACT_BUCKET: storage.artifacts.bucket_name,
                env_names.REGISTRY_TABLE: registry.table.table_name,
                env_names.METADATA_TABLE: metadata.table.table_name,
                env_names.CODE_COMMIT: git_commit(),
                env_names.CODE_SHA256: functions_sha256(),
                env_names.REQUIREMENTS_SHA256: requirements_sha256(),
                env_names.PROJECT_SHA256: project_sha256(project.root) if project.root else "unknown",
                env_names.APPROVAL_POLICY: config.approval_policy,
                env_names.MAX_MAJORITY_SHARE: str(config.max_majority_share),
                env_names.MAX_LABEL_DRIFT: str(config.max_label_drift),
                env_names.MAX_MEAN_SHIFT: str(config.max_mean_shift),
            },
        )
        for fn in pipeline.functions.values():
            metadata.grant(fn, write=True)
            storage.grant_run_artifacts(fn, write=True)
        steps = pipeline.functions
        storage.grant_read_raw(steps["BuildTrainingSetFunctionArn"])
        # The size estimate reads what the build will; a large set's data prep runs as Batch jobs (the same steps).
        storage.grant_read_raw(steps["EstimateTrainingSetFunctionArn"])
        pipeline.grant_batch_what_the_build_holds()
        storage.grant_run_artifacts(pipeline.batch.job_role, write=True)
        for name in ("BuildTrainingSet", "ValidateData", "Evaluate"):
            registry.grant(steps[f"{name}FunctionArn"], write=False)
        # RunRecorder's failure path withdraws the version a failed run registered (and moves champion off it).
        for name in ("Register", "Promote", "RunRecorder"):
            registry.grant(steps[f"{name}FunctionArn"], write=True)
        storage.grant_baselines_write(steps["RegisterFunctionArn"])
        # Promote (and a withdrawal that moved champion back) announces the move on the default bus;
        # the rollout's Deployer listens.
        for name in ("Promote", "RunRecorder"):
            steps[f"{name}FunctionArn"].add_to_role_policy(
                iam.PolicyStatement(
                    actions=["events:PutEvents"],
                    resources=[self.format_arn(service="events", resource="event-bus", resource_name="default")],
                )
            )

        # S3 -> EventBridge for the data bucket: new raw files start the feature pipeline.
        data_bucket = storage.data.node.default_child
        assert isinstance(data_bucket, s3.CfnBucket)
        data_bucket.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)
        features = FeatureStore(
            self,
            "FeatureStore",
            config=config,
            factory=factory,
            # The catalog lists the project's views and each model's feedback view (labelled predictions).
            views=(*project.feature_views, *(project.feedback_view(model) for model in project.models)),
            access_logs=storage.access_logs,
            raw_bucket=storage.data,
            environment={
                env_names.DATA_BUCKET: storage.data.bucket_name,
                env_names.METADATA_TABLE: metadata.table.table_name,
            },
        )
        for fn in features.functions.values():
            metadata.grant(fn, write=True)
        # BuildTrainingSet reads point-in-time training sets from the offline store.
        build_training_set = steps["BuildTrainingSetFunctionArn"]
        build_training_set.add_environment(env_names.FEATURE_OFFLINE_BUCKET, features.offline.bucket_name)
        features.grant_read_offline(build_training_set)
        # Past athena_threshold_rows the same build joins on Athena, over the Glue tables of the offline store.
        workgroup = AthenaWorkgroup(
            self,
            "Athena",
            config=config,
            key=key,
            offline=features.offline,
            database=features.database,
            tables=list(features.tables.values()),
            access_logs=storage.access_logs,
        )
        for name, value in workgroup.environment.items():
            build_training_set.add_environment(name, value)
        assert build_training_set.role is not None
        workgroup.grant(build_training_set, build_training_set.role)
        workgroup.grant(pipeline.batch.job_role, pipeline.batch.job_role)
        estimate = steps["EstimateTrainingSetFunctionArn"]
        estimate.add_environment(env_names.FEATURE_OFFLINE_BUCKET, features.offline.bucket_name)
        features.grant_read_offline(estimate)
        pipeline.batch.set_environment(env_names.FEATURE_OFFLINE_BUCKET, features.offline.bucket_name)
        for name, value in workgroup.environment.items():
            pipeline.batch.set_environment(name, value)

        batch = BatchInference(
            self,
            "BatchInference",
            config=config,
            factory=factory,
            environment={
                env_names.ARTIFACT_BUCKET: storage.artifacts.bucket_name,
                env_names.REGISTRY_TABLE: registry.table.table_name,
                env_names.MODEL_NAME: config.model_name,
                env_names.METADATA_TABLE: metadata.table.table_name,
                env_names.CAPTURE_BUCKET: storage.captures.bucket_name,
                env_names.FEATURE_OFFLINE_BUCKET: features.offline.bucket_name,
            },
        )
        registry.grant(batch.function, write=False)
        storage.grant_run_artifacts(batch.function, write=False)
        storage.grant_batch(batch.function, batch.state_machine)
        # Each batch run's record (and its failure), and an entity file's point-in-time join.
        metadata.grant(batch.function, write=True)
        features.grant_read_offline(batch.function)

        alarms = sns.Topic(self, "AlarmTopic", display_name=f"{config.prefix} alarms", enforce_ssl=True, master_key=key)
        api = InferenceApi(self, "InferenceApi", config=config, factory=factory, captures=storage.captures)
        monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            factory=factory,
            state_machine=pipeline.state_machine,
            api=api.api,
            alarm_topic=alarms,
            dead_letters=pipeline.dead_letters,
        )
        # Each of the project's models: its endpoint (function, alias live, routes), rollout, monitor and guard.
        guards = []
        for model in project.models:
            suffix = model_suffix(project, model.name)
            endpoint = api.add_model(
                model,
                suffix=suffix,
                at_root=len(project.models) == 1,
                environment={
                    env_names.ARTIFACT_BUCKET: storage.artifacts.bucket_name,
                    env_names.REGISTRY_TABLE: registry.table.table_name,
                    env_names.MODEL_REFRESH_SECONDS: str(config.model_refresh_s),
                    env_names.MAX_RECORDS: str(config.inference_max_records),
                    # Predictions by entity id read the model's first view from the online store.
                    env_names.FEATURE_ONLINE_TABLE: features.online.table_name,
                    env_names.ONLINE_VIEW: describe_online_view(project.view_by_ref(model.feature_store.views[0])),
                },
            )
            registry.grant(endpoint.function, write=False)
            storage.grant_run_artifacts(endpoint.function, write=False)
            features.grant_read_online(endpoint.function)
            endpoint.server_errors_alarm.add_alarm_action(cw_actions.SnsAction(alarms))

            rollout = ModelRollout(
                self,
                f"ModelRollout{suffix}",
                config=config,
                factory=factory,
                function=endpoint.function,
                alias=endpoint.live,
                environment={
                    env_names.REGISTRY_TABLE: registry.table.table_name,
                    env_names.METADATA_TABLE: metadata.table.table_name,
                },
                model_name=model.name,
                suffix=suffix,
            )
            registry.grant(rollout.deployer, write=False)
            registry.grant(rollout.pre_traffic_hook, write=False)
            registry.grant(rollout.outcome_recorder, write=True)
            # Deployments, their smoke test and their outcome (with any automatic rollback) go into the lineage.
            for fn in (rollout.deployer, rollout.pre_traffic_hook, rollout.outcome_recorder):
                metadata.grant(fn, write=True)
            for alarm in rollout.alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(alarms))

            monitored = monitoring.add_model(
                model_name=model.name,
                suffix=suffix,
                capture_bucket=storage.captures.bucket_name,
                artifact_bucket=storage.artifacts.bucket_name,
                offline_bucket=features.offline.bucket_name,
                registry_table=registry.table.table_name,
                serving=endpoint.function,
                live_quality=live_quality_alarm(model, min_live_accuracy=config.min_live_accuracy),
            )
            registry.grant(monitored.monitor, write=False)
            storage.grant_monitoring(monitored.monitor)
            # The monitor run joins the model's labelled predictions into its feedback view.
            features.grant_feedback_join(monitored.monitor, feedback_view_name(model.name))
            storage.grant_monitor_runs_read(monitored.guard)
            guards.append(monitored.guard)

        # (c) new data: a feature-pipeline run that stored new features asks each model's guard for a retrain;
        # a backfill (execution named backfill-*) loads history and does not. A rule takes at most 5 targets.
        for index in range(0, len(guards), 5):
            events.Rule(
                self,
                f"RetrainOnNewFeatures{index // 5 or ''}",
                description="New features stored -> retrain guard (cooldown, lock, budget) -> training pipeline",
                event_pattern=events.EventPattern(
                    source=["aws.states"],
                    detail_type=["Step Functions Execution Status Change"],
                    detail={
                        "status": ["SUCCEEDED"],
                        "stateMachineArn": [features.state_machine.state_machine_arn],
                        "name": [{"anything-but": {"prefix": env_names.BACKFILL_EXECUTION_PREFIX}}],
                    },
                ),
                targets=[
                    targets.LambdaFunction(
                        guard,
                        event=events.RuleTargetInput.from_object(
                            {
                                "trigger": {
                                    "type": "new_data",
                                    "time": events.EventField.time,
                                    "execution": events.EventField.from_path("$.detail.executionArn"),
                                }
                            }
                        ),
                        dead_letter_queue=pipeline.dead_letters,
                        retry_attempts=3,
                    )
                    for guard in guards[index : index + 5]
                ],
            )

        # Last: every state machine, dead-letter queue and unattended function built above gets its alarm.
        failures = FailureAlarms(self, "FailureAlarms", config=config, topic=alarms)
        failures.watch(self)
        monitoring.dashboard(other_alarms=failures.alarms)

        CfnOutput(self, "ApiUrl", value=api.api.url)
        CfnOutput(self, "ApiKeyId", value=api.api_key.key_id)
        CfnOutput(self, "TrainingStateMachineArn", value=pipeline.state_machine.state_machine_arn)
        CfnOutput(self, "BatchInferenceStateMachineArn", value=batch.state_machine.state_machine_arn)
        CfnOutput(self, "DataBucketName", value=storage.data.bucket_name)
        CfnOutput(self, "CaptureBucketName", value=storage.captures.bucket_name)
        CfnOutput(self, "ArtifactBucketName", value=storage.artifacts.bucket_name)
        CfnOutput(self, "RetrainGuardTableName", value=monitoring.guard_table.table_name)
        CfnOutput(self, "TriggerDeadLetterQueueUrl", value=pipeline.dead_letters.queue_url)
        CfnOutput(self, "FeatureStateMachineArn", value=features.state_machine.state_machine_arn)
        CfnOutput(self, "FeatureOfflineBucketName", value=features.offline.bucket_name)
        CfnOutput(self, "FeatureOnlineTableName", value=features.online.table_name)
        CfnOutput(self, "FeatureGlueDatabase", value=features.database.ref)
        # Read by the operator CLI (`mlops models|runs|lineage|train --stack ...`).
        CfnOutput(self, "RegistryTableName", value=registry.table.table_name)
        CfnOutput(self, "MetadataTableName", value=metadata.table.table_name)
        CfnOutput(self, "ModelName", value=config.model_name)
        CfnOutput(self, "ProjectName", value=project.name)
        CfnOutput(self, "ModelNames", value=",".join(project.model_names))
        CfnOutput(self, "StageName", value=config.name)
        CfnOutput(self, "RawDatasetUri", value=f"s3://{storage.data.bucket_name}/{RAW_DATASET_KEY}")
