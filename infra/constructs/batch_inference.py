"""Batch inference: a Distributed Map over the Parquet objects under an S3 prefix."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.asl import render_asl
from infra.config import StageConfig
from infra.constructs.function_factory import FunctionFactory, log_retention
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
        definition = render_asl(
            "batch_inference",
            values={
                "BatchTimeoutSeconds": config.pipeline_timeout_s,
                "StepTimeoutSeconds": config.pipeline_step.timeout_s + 30,
                "PartitionTimeoutSeconds": config.training.timeout_s + 30,
            },
            deferred=["BatchPredictFunctionArn"],
        )
        name = f"{config.prefix}-batch-inference"
        log_group = logs.LogGroup(
            self,
            "ExecutionLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions={"BatchPredictFunctionArn": self.function.function_arn},
            timeout=Duration.seconds(config.pipeline_timeout_s),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])
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
        acknowledge(
            self.state_machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing and CloudWatch Logs delivery for Step Functions require Resource '*' "
            "(xray:PutTraceSegments and logs:*LogDelivery do not support resource-level permissions).",
        )
