"""Batch inference: a Distributed Map over the Parquet objects under an S3 prefix."""

from __future__ import annotations

import math
from collections.abc import Mapping

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.shared import settings as env_names
from infra.asl import covering_timeout_s, longest_run
from infra.config import StageConfig
from infra.constructs.function_factory import FunctionFactory
from infra.constructs.state_machines import allow_distributed_map, asl_state_machine

# Partitions predicted at once, and the most one batch takes (ResolveModel refuses more, before any starts):
# the state machine's timeout is sized for that many rounds, every partition at its maximum.
PARTITION_CONCURRENCY = 40
MAX_PARTITIONS = 4_000
MAP_ROUNDS = {"PredictPartitions": math.ceil(MAX_PARTITIONS / PARTITION_CONCURRENCY)}


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
        values: dict[str, int | str] = {
            # One function serves every state (an entity list's point-in-time join runs in ResolveModel), so
            # every state waits as long as it may run.
            "StepTimeoutSeconds": config.training.timeout_s + 30,
            "PartitionTimeoutSeconds": config.training.timeout_s + 30,
            "PartitionConcurrency": PARTITION_CONCURRENCY,
            "MaxPartitions": MAX_PARTITIONS,
        }
        values["BatchTimeoutSeconds"] = batch_timeout_s(config, values)
        self.state_machine = asl_state_machine(
            self,
            config=config,
            key=factory.key,
            asl="batch_inference",
            values=values,
            map_rounds=MAP_ROUNDS,
            functions={"BatchPredictFunctionArn": self.function},
            # PredictPartitions' ResultWriter writes the children's results under batch/<run>/ of this bucket.
            other_substitutions={"ArtifactBucketName": environment[env_names.ARTIFACT_BUCKET]},
            name=name,
        )
        allow_distributed_map(self.state_machine, name)


def batch_timeout_s(config: StageConfig, values: Mapping[str, int | str]) -> int:
    """The batch's TimeoutSeconds: its longest run (MAX_PARTITIONS, every step at its maximum with retries),
    never less than the stage's ``pipeline_timeout_s``."""
    probe = {**values, "BatchTimeoutSeconds": config.pipeline_timeout_s}
    _, seconds = longest_run("batch_inference", probe, MAP_ROUNDS)
    return covering_timeout_s(seconds, config.pipeline_timeout_s)
