"""Batch inference: a Distributed Map over the Parquet objects under an S3 prefix."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.shared import settings as env_names
from infra.config import StageConfig
from infra.constructs.function_factory import FunctionFactory
from infra.constructs.state_machines import allow_distributed_map, asl_state_machine


class BatchInference(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        factory: FunctionFactory,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.function: lambda_.DockerImageFunction = factory.function(
            "BatchPredict",
            handler="functions.handlers.batch_predict.handler",
            sizing=config.training,
            environment=environment,
            description="Batch inference: resolve the model, predict a partition, summarize",
        )
        name = f"{config.prefix}-batch-inference"
        self.state_machine = asl_state_machine(
            self,
            config=config,
            key=factory.key,
            asl="batch_inference",
            values={
                "BatchTimeoutSeconds": config.pipeline_timeout_s,
                "StepTimeoutSeconds": config.pipeline_step.timeout_s + 30,
                "PartitionTimeoutSeconds": config.training.timeout_s + 30,
            },
            functions={"BatchPredictFunctionArn": self.function},
            # PredictPartitions' ResultWriter writes the children's results under batch/<run>/ of this bucket.
            other_substitutions={"ArtifactBucketName": environment[env_names.ARTIFACT_BUCKET]},
            name=name,
        )
        allow_distributed_map(self.state_machine, name)
