"""The MLOps stack of one stage: storage, registry, metadata, training pipeline, inference API."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from functions import settings as env_names
from infra.code_version import git_commit, requirements_sha256
from infra.config import StageConfig
from infra.constructs.function_factory import FunctionFactory
from infra.constructs.inference_api import InferenceApi
from infra.constructs.storage import Storage
from infra.constructs.tables import MetadataTable, RegistryTable
from infra.constructs.training_pipeline import TrainingPipeline

# The shipped dataset is uploaded here by `mlops data upload` (and the demo).
RAW_DATASET_KEY = "raw/seattle-weather.csv"


class MlopsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        storage = Storage(self, "Storage", config=config)
        registry = RegistryTable(self, "Registry", config=config)
        metadata = MetadataTable(self, "Metadata", config=config)
        factory = FunctionFactory(self, "Functions", config=config)

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
                env_names.MODEL_NAME: config.model_name,
                env_names.MIN_ACCURACY: str(config.min_accuracy),
                env_names.CODE_COMMIT: git_commit(),
                env_names.REQUIREMENTS_SHA256: requirements_sha256(),
                env_names.APPROVAL_POLICY: config.approval_policy,
                env_names.MAX_MAJORITY_SHARE: str(config.max_majority_share),
                env_names.MAX_LABEL_DRIFT: str(config.max_label_drift),
                env_names.MAX_MEAN_SHIFT: str(config.max_mean_shift),
            },
            default_source_uri=f"s3://{storage.data.bucket_name}/{RAW_DATASET_KEY}",
        )
        for fn in pipeline.functions.values():
            metadata.grant(fn, write=True)
            storage.grant_run_artifacts(fn, write=True)
        steps = pipeline.functions
        storage.grant_read_raw(steps["BuildTrainingSetFunctionArn"])
        storage.grant_run_artifacts(pipeline.batch.job_role, write=True)
        for name in ("ValidateData", "Evaluate"):
            registry.grant(steps[f"{name}FunctionArn"], write=False)
        for name in ("Register", "Promote"):
            registry.grant(steps[f"{name}FunctionArn"], write=True)

        api = InferenceApi(
            self,
            "InferenceApi",
            config=config,
            factory=factory,
            environment={
                env_names.ARTIFACT_BUCKET: storage.artifacts.bucket_name,
                env_names.REGISTRY_TABLE: registry.table.table_name,
                env_names.MODEL_NAME: config.model_name,
                env_names.MODEL_REFRESH_SECONDS: str(config.model_refresh_s),
                env_names.MAX_RECORDS: str(config.inference_max_records),
            },
        )
        registry.grant(api.function, write=False)
        storage.grant_run_artifacts(api.function, write=False)

        alarms = sns.Topic(
            self, "AlarmTopic", display_name=f"{config.prefix} alarms", enforce_ssl=True, master_key=None
        )
        api.server_errors_alarm.add_alarm_action(cw_actions.SnsAction(alarms))

        CfnOutput(self, "ApiUrl", value=api.api.url)
        CfnOutput(self, "ApiKeyId", value=api.api_key.key_id)
        CfnOutput(self, "TrainingStateMachineArn", value=pipeline.state_machine.state_machine_arn)
        CfnOutput(self, "DataBucketName", value=storage.data.bucket_name)
        # Read by the operator CLI (`mlops models|runs|lineage|train --stack ...`).
        CfnOutput(self, "RegistryTableName", value=registry.table.table_name)
        CfnOutput(self, "MetadataTableName", value=metadata.table.table_name)
        CfnOutput(self, "ArtifactBucketName", value=storage.artifacts.bucket_name)
        CfnOutput(self, "ModelName", value=config.model_name)
        CfnOutput(self, "RawDatasetUri", value=f"s3://{storage.data.bucket_name}/{RAW_DATASET_KEY}")
