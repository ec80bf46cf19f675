"""The training pipeline: its step functions, the state machine from ASL, and its schedule."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.shared import settings as env_names
from functions.training.search_budget import MAX_SEARCH_ROUNDS
from infra.asl import covering_timeout_s, longest_run
from infra.config import StageConfig
from infra.constructs.dead_letters import dead_letter_queue
from infra.constructs.function_factory import FunctionFactory
from infra.constructs.state_machines import allow_distributed_map, asl_state_machine
from infra.constructs.training_batch import BatchTraining
from infra.nag import acknowledge

# state machine placeholder -> (construct id, handler)
STEPS: dict[str, tuple[str, str]] = {
    "RunRecorderFunctionArn": ("RunRecorder", "functions.handlers.run_recorder.handler"),
    "EstimateTrainingSetFunctionArn": ("EstimateTrainingSet", "functions.handlers.estimate_training_set.handler"),
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
    "CollectBatchStepFunctionArn": ("CollectBatchStep", "functions.handlers.collect_batch_step.handler"),
}
# What a Batch job's BuildTrainingSet reads that the stack builds after the pipeline: set by the stack.
LATE_ENVIRONMENT = (
    env_names.FEATURE_OFFLINE_BUCKET,
    env_names.ATHENA_WORKGROUP,
    env_names.ATHENA_DATABASE,
    env_names.ATHENA_RESULTS,
    env_names.ATHENA_THRESHOLD_ROWS,
)
# The most rounds of trials a search runs (PlanTrials refuses more): what bounds the RunTrials Map.
MAP_ROUNDS = {"RunTrials": MAX_SEARCH_ROUNDS}
# The steps whose memory bounds a training set on Lambda (the size rule's budget): they hold the set.
DATA_PREP = ("Train", "Evaluate", "ValidateData", "Split", "BuildTrainingSet")


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
            sizing = config.training if step_id in DATA_PREP else config.pipeline_step
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
            # A large set's BuildTrainingSet reads the feature store (and joins on Athena), built after the pipeline.
            late_environment=LATE_ENVIRONMENT,
        )
        batch_arns = {
            "TrainingJobQueueArn": self.batch.queue.job_queue_arn,
            "TrainingJobDefinitionArn": self.batch.job_definition.job_definition_arn,
        }
        name = f"{config.prefix}-training"
        values = asl_values(config)
        self.timeout_s = int(values["PipelineTimeoutSeconds"])
        self.state_machine = asl_state_machine(
            self,
            config=config,
            key=factory.key,
            asl="training_pipeline",
            name=name,
            values=values,
            functions=self.functions,
            other_substitutions=batch_arns,
            resource_star_also="; batch:DescribeJobs (used by submitJob.sync) does not support them either",
            map_rounds=MAP_ROUNDS,
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

    def grant_batch_what_the_build_holds(self) -> None:
        """A large set's data prep runs as Batch jobs of the same handlers: the job role gets BuildTrainingSet's
        policy itself (its grants hold what ValidateData, Split and Evaluate need too), so every grant the stack
        gives the build, before or after this call, holds for the job. Call it after the build's first grant."""
        role = self.functions["BuildTrainingSetFunctionArn"].role
        policy = role.node.try_find_child("DefaultPolicy") if role is not None else None
        if not isinstance(policy, iam.Policy):
            raise ValueError("BuildTrainingSet has no grants yet: grant it first, then share them with the Batch job")
        policy.attach_to_role(self.batch.job_role)


def asl_values(config: StageConfig) -> dict[str, int | str]:
    """The training pipeline's synth-time substitutions, its TimeoutSeconds computed from the others."""
    values: dict[str, int | str] = {
        "StepTimeoutSeconds": config.pipeline_step.timeout_s + 30,
        "TrainTimeoutSeconds": config.training.timeout_s + 30,
        # The job stops itself at its definition's timeout; the state waits a little longer for that.
        "BatchTrainTimeoutSeconds": config.batch.timeout_s + 300,
        "BatchThresholdRows": config.batch_threshold_rows,
        "DataPrepMemoryMb": config.training.memory_mb,
    }
    return {**values, "PipelineTimeoutSeconds": pipeline_timeout(config, values)}


def training_timeout_s(config: StageConfig) -> int:
    """What one training execution may take at most: a lock held for a run must last as long (the retrain guard's)."""
    return int(asl_values(config)["PipelineTimeoutSeconds"])


def pipeline_timeout(config: StageConfig, values: Mapping[str, int | str]) -> int:
    """The training machine's TimeoutSeconds: its longest run (every step's maximum with its retries, and a
    search of ``MAX_SEARCH_ROUNDS`` rounds, ``infra/asl_timeouts.py``), never less than the stage's
    ``pipeline_timeout_s``, rounded up to a minute."""
    probe = {**values, "PipelineTimeoutSeconds": config.pipeline_timeout_s}
    _, seconds = longest_run("training_pipeline", probe, MAP_ROUNDS)
    return covering_timeout_s(seconds, config.pipeline_timeout_s)
