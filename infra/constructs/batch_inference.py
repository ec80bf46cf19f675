"""Batch inference: a Distributed Map over the Parquet objects under an S3 prefix."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.function_factory import FunctionFactory
from infra.constructs.state_machines import asl_state_machine
from infra.nag import acknowledge


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
            name=name,
        )
        # A Distributed Map runs its items as child executions of this state machine.
        stack = Stack.of(self)
        machine_arn = stack.format_arn(
            service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine_arn])
        )
        executions = stack.format_arn(
            service="states", resource="execution", resource_name=f"{name}/*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution", "states:StopExecution"], resources=[executions])
        )
        acknowledge(
            self.state_machine.role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}/*]",
            "Distributed Map child execution ids are generated at run time; the grant is limited to this machine's.",
        )
