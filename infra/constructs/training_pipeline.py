"""The training pipeline: its step functions, the state machine from ASL, and its schedule."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.dead_letters import dead_letter_queue
from infra.constructs.function_factory import FunctionFactory
from infra.constructs.state_machines import allow_distributed_map, asl_state_machine
from infra.constructs.training_batch import BatchTraining
from infra.nag import acknowledge

# state machine placeholder -> (construct id, handler)
STEPS: dict[str, tuple[str, str]] = {
    "RunRecorderFunctionArn": ("RunRecorder", "functions.handlers.run_recorder.handler"),
    "BuildTrainingSetFunctionArn": ("BuildTrainingSet", "functions.handlers.build_training_set.handler"),
    "ValidateDataFunctionArn": ("ValidateData", "functions.handlers.validate_data.handler"),
    "SplitFunctionArn": ("Split", "functions.handlers.split.handler"),
    "TrainFunctionArn": ("Train", "functions.handlers.train.handler"),
    "EvaluateFunctionArn": ("Evaluate", "functions.handlers.evaluate.handler"),
    "RegisterFunctionArn": ("Register", "functions.handlers.register.handler"),
    "PromoteFunctionArn": ("Promote", "functions.handlers.promote.handler"),
    "CollectTrainingResultFunctionArn": (
        "CollectTrainingResult",
        "functions.handlers.collect_training_result.handler",
    ),
}


class TrainingPipeline(Construct):
    """Step Functions state machine rendered from ``stepfunctions/training_pipeline.asl.json``.

    Its hyperparameter search is a Distributed Map (``RunTrials``): each trial a child execution of
    the machine itself, so the machine has a fixed name and may start and follow its own executions.
    """

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
        self.functions: dict[str, lambda_.DockerImageFunction] = {}
        for placeholder, (step_id, handler) in STEPS.items():
            big = ("Train", "Evaluate", "ValidateData", "Split", "BuildTrainingSet")
            sizing = config.training if step_id in big else config.pipeline_step
            self.functions[placeholder] = factory.function(
                step_id,
                handler=handler,
                sizing=sizing,
                environment=environment,
                description=f"Training pipeline step {step_id}",
            )

        self.batch = BatchTraining(
            self,
            "Batch",
            config=config,
            environment={**factory.image_environment, **environment},
            image_build=factory.image_build,
            key=factory.key,
        )
        batch_arns = {
            "TrainingJobQueueArn": self.batch.queue.job_queue_arn,
            "TrainingJobDefinitionArn": self.batch.job_definition.job_definition_arn,
        }
        name = f"{config.prefix}-training"
        self.state_machine = asl_state_machine(
            self,
            config=config,
            key=factory.key,
            asl="training_pipeline",
            name=name,
            values={
                "PipelineTimeoutSeconds": config.pipeline_timeout_s,
                "StepTimeoutSeconds": config.pipeline_step.timeout_s + 30,
                "TrainTimeoutSeconds": config.training.timeout_s + 30,
                "BatchTrainTimeoutSeconds": config.batch.timeout_s + 300,
                "BatchThresholdRows": config.batch_threshold_rows,
            },
            functions=self.functions,
            other_substitutions=batch_arns,
            resource_star_also="; batch:DescribeJobs (used by submitJob.sync) does not support them either",
        )
        allow_distributed_map(self.state_machine, name)
        # batch:submitJob.sync: submit to this queue with this definition, then follow the job.
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["batch:SubmitJob"],
                resources=[self.batch.queue.job_queue_arn, self.batch.job_definition.job_definition_arn],
            )
        )
        # DescribeJobs has no resource-level permissions; TerminateJob is limited to jobs.
        self.state_machine.add_to_role_policy(iam.PolicyStatement(actions=["batch:DescribeJobs"], resources=["*"]))
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["batch:TerminateJob"],
                resources=[Stack.of(self).format_arn(service="batch", resource="job", resource_name="*")],
            )
        )
        acknowledge(
            self.state_machine.role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job/*]",
            "submitJob.sync stops the job it started on timeout or abort; job ids exist only at run time.",
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    Stack.of(self).format_arn(
                        service="events", resource="rule", resource_name="StepFunctionsGetEventsForBatchJobsRule"
                    )
                ],
            )
        )
        self.dead_letters = dead_letter_queue(
            self, "TriggerDeadLetters", config=config, key=factory.key,
            serves="the retraining and monitoring triggers",
        )  # fmt: skip
