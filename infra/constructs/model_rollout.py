"""Safe rollout of a promoted model: CodeDeploy canary on the inference function's alias `live`.

The Deployer makes `live` serve the registry's champion: it runs on each champion move
(``Model Alias Moved``, source ``mlops.registry``), after each rollout ends (``Model Rollout
Ended``, put by the outcome recorder) and on a schedule, and starts a deployment only when the
champion is not what serves and no other deployment is in progress (a move meanwhile is deferred).
A deployment pins the model in a published function version; the deployment group shifts
``canary_percent`` of traffic for ``canary_minutes`` after a BeforeAllowTraffic smoke test, and
rolls back when one of the canary alarms (5xx rate, p99 latency, baseline agreement of the
predictions) goes off. The alarms here are definitions: each deployment is watched by copies bound
to its model version (passed with the deployment), so neither these alarms nor the function's
``$LATEST`` are changed by a rollout, and the next ``cdk deploy`` resets nothing. An operator's
rollback goes all at once. The outcome recorder adds every deployment's end to the lineage and, for
a failed or stopped one, moves the registry's champion back.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.shared import settings as env_names
from infra.config import StageConfig
from infra.constructs.dead_letters import dead_letter_queue
from infra.constructs.function_factory import FunctionFactory, FunctionImage
from infra.nag import acknowledge

# The stack's canary alarms are definitions: the deployer copies them per rollout, bound to the rolled-out model
# version (deployments.model_alarm_name); the definitions themselves watch no traffic.
PENDING_VERSION = "none"
# How often the deployer reconciles on its own (besides every champion move and every rollout's end).
RECONCILE_EVERY = Duration.minutes(30)


class ModelRollout(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        factory: FunctionFactory,
        function: lambda_.IFunction,
        alias: lambda_.Alias,
        environment: Mapping[str, str],
        model_name: str,
        suffix: str = "",
    ) -> None:
        """One model's rollout; ``suffix`` tells its functions apart when a project serves several models."""
        super().__init__(scope, construct_id)
        self.model_name, self.suffix = model_name, suffix
        environment = {**environment, env_names.MODEL_NAME: model_name}
        self.dead_letters = dead_letter_queue(
            self, "RolloutEventsDlq", config=config, key=factory.key, serves="the rollout rules and functions"
        )
        self.alarms = self._canary_alarms(config)
        self.pre_traffic_hook = factory.function(
            f"PreTrafficHook{suffix}",
            handler="functions.handlers.pre_traffic_hook.handler",
            sizing=config.pipeline_step,
            environment=environment,
            description="CodeDeploy BeforeAllowTraffic: smoke-tests the new inference function version",
            async_dead_letters=self.dead_letters,
            image=FunctionImage.SERVING,
        )
        self.application = codedeploy.LambdaApplication(self, "Application")
        self.deployment_config = codedeploy.LambdaDeploymentConfig(
            self,
            "CanaryConfig",
            traffic_routing=codedeploy.TimeBasedCanaryTrafficRouting(
                interval=Duration.minutes(config.canary_minutes), percentage=config.canary_percent
            ),
        )
        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "DeploymentGroup",
            application=self.application,
            alias=alias,
            deployment_config=self.deployment_config,
            alarms=list(self.alarms),
            pre_hook=self.pre_traffic_hook,
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
        )
        service_role = self.deployment_group.role
        acknowledge(
            service_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]",
            "CodeDeploy's documented service-role policy for Lambda deployments (alias updates, hook invokes).",
        )
        hook_id = Stack.of(self).get_logical_id(self.pre_traffic_hook.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            service_role,
            f"AwsSolutions-IAM5[Resource::<{hook_id}.Arn>:*]",
            "CDK's invoke grant of the pre-traffic hook: that one function, any of its versions.",
        )
        self.deployer_environment = {
            **environment,
            env_names.INFERENCE_FUNCTION: function.function_name,
            env_names.SERVING_ALIAS: alias.alias_name,
            env_names.DEPLOY_APPLICATION: self.application.application_name,
            env_names.DEPLOY_GROUP: self.deployment_group.deployment_group_name,
            env_names.PRE_TRAFFIC_HOOK: self.pre_traffic_hook.function_name,
            env_names.CANARY_ALARMS: Fn.join(",", [a.alarm_name for a in self.alarms]),
        }
        self.deployer = factory.function(
            f"Deployer{suffix}",
            handler="functions.handlers.deploy_model.handler",
            sizing=config.pipeline_step,
            environment=self.deployer_environment,
            description="Reconcile live with the registry's champion: pinned version, canary (or rollback at once)",
            async_dead_letters=self.dead_letters,
        )
        self.outcome_recorder = factory.function(
            f"RolloutOutcome{suffix}",
            handler="functions.handlers.rollout_outcome.handler",
            sizing=config.pipeline_step,
            environment=self.deployer_environment,
            description="Record a rollout's end; a failed or stopped one moves the registry's champion back",
            async_dead_letters=self.dead_letters,
        )
        self._grant(function)
        self._rules(config)

    def _canary_alarms(self, config: StageConfig) -> tuple[cloudwatch.Alarm, ...]:
        def alarm(
            name: str, metric: str, *, statistic: str, threshold: float, above: bool, what: str
        ) -> cloudwatch.Alarm:
            return cloudwatch.Alarm(
                self,
                name,
                alarm_description=f"Canary: {what} of the model version being rolled out",
                metric=cloudwatch.Metric(
                    namespace=f"Mlops/{config.name}",
                    metric_name=metric,
                    # The serving function's Powertools service is its construct id (Inference<suffix>).
                    dimensions_map={"service": f"Inference{self.suffix}", "ModelVersion": PENDING_VERSION},
                    statistic=statistic,
                    period=Duration.minutes(1),
                ),
                threshold=threshold,
                # 1 of 2 one-minute periods: catches a burst right after the shift without waiting for two.
                evaluation_periods=2,
                datapoints_to_alarm=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
                if above
                else cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )

        return (
            alarm(
                "ErrorRateAlarm",
                "ServerError",
                statistic="Average",
                threshold=config.canary_max_error_rate,
                above=True,
                what="5xx rate",
            ),
            alarm(
                "LatencyAlarm",
                "Latency",
                statistic="p99",
                threshold=config.canary_max_p99_latency_ms,
                above=True,
                what="p99 latency (ms)",
            ),
            alarm(
                "PredictionShiftAlarm",
                "BaselineAgreement",
                statistic="Average",
                threshold=config.canary_min_baseline_agreement,
                above=False,
                what="agreement of predictions with the registered holdout distribution",
            ),
        )

    def _grant(self, function: lambda_.IFunction) -> None:
        stack = Stack.of(self)
        group_arn = self.deployment_group.deployment_group_arn
        versions = f"{function.function_arn}:*"
        self.deployer.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "lambda:GetAlias",
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:ListVersionsByFunction",
                    # Only for the instant of publishing a pinned version, restored at once (see deployments.py).
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:PublishVersion",
                ],
                resources=[function.function_arn, versions],
            )
        )
        copies = [f"{alarm.alarm_arn}-model-*" for alarm in self.alarms]
        self.deployer.add_to_role_policy(
            iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=[a.alarm_arn for a in self.alarms])
        )
        self.deployer.add_to_role_policy(iam.PolicyStatement(actions=["cloudwatch:PutMetricAlarm"], resources=copies))
        self.outcome_recorder.add_to_role_policy(
            iam.PolicyStatement(actions=["cloudwatch:DeleteAlarms"], resources=copies)
        )
        self.deployer.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "codedeploy:CreateDeployment",
                    "codedeploy:ListDeployments",
                    "codedeploy:GetDeployment",
                    "codedeploy:StopDeployment",
                ],
                resources=[group_arn],
            )
        )
        self.deployer.add_to_role_policy(
            iam.PolicyStatement(
                actions=["codedeploy:GetDeploymentConfig"],
                resources=[
                    self.deployment_config.deployment_config_arn,
                    # An operator's rollback goes all at once.
                    stack.format_arn(
                        service="codedeploy",
                        resource="deploymentconfig",
                        resource_name="CodeDeployDefault.LambdaAllAtOnce",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    ),
                ],
            )
        )
        self.deployer.add_to_role_policy(
            iam.PolicyStatement(
                actions=["codedeploy:RegisterApplicationRevision", "codedeploy:GetApplicationRevision"],
                resources=[self.application.application_arn],
            )
        )
        self.outcome_recorder.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[stack.format_arn(service="events", resource="event-bus", resource_name="default")],
            )
        )
        self.pre_traffic_hook.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[versions])
        )
        for fn in (self.pre_traffic_hook, self.outcome_recorder):
            fn.add_to_role_policy(iam.PolicyStatement(actions=["codedeploy:GetDeployment"], resources=[group_arn]))
        function_id = stack.get_logical_id(function.node.default_child)  # type: ignore[arg-type]
        for fn in (self.deployer, self.pre_traffic_hook):
            acknowledge(
                fn.role,  # type: ignore[arg-type]
                f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
                "Published versions of the inference function only (function ARN qualified by version number).",
            )
        for fn in (self.deployer, self.outcome_recorder):
            for alarm in self.alarms:
                alarm_id = stack.get_logical_id(alarm.node.default_child)  # type: ignore[arg-type]
                acknowledge(
                    fn.role,  # type: ignore[arg-type]
                    f"AwsSolutions-IAM5[Resource::<{alarm_id}.Arn>-model-*]",
                    "A rollout's copies of this canary alarm, one per model version rolled out (<alarm>-model-<n>).",
                )

    def _rules(self, config: StageConfig) -> None:
        dead_letters = self.dead_letters
        events.Rule(
            self,
            "OnChampionMoved",
            description="A promoted champion is rolled out behind alias live",
            event_pattern=events.EventPattern(
                source=["mlops.registry"],
                detail_type=["Model Alias Moved"],
                detail={"alias": ["champion"], "model_name": [self.model_name]},
            ),
            targets=[targets.LambdaFunction(self.deployer, retry_attempts=2, dead_letter_queue=dead_letters)],
        )
        # After every rollout's end (recorded first, champion moved back if it failed) and on a schedule, the deployer
        # reconciles: a champion move deferred behind a running rollout, or an event missed, is rolled out then.
        events.Rule(
            self,
            "OnRolloutEnded",
            description="A rollout has ended: the deployer rolls out a champion that moved meanwhile",
            event_pattern=events.EventPattern(
                source=["mlops.rollout"],
                detail_type=["Model Rollout Ended"],
                detail={"model_name": [self.model_name]},
            ),
            targets=[targets.LambdaFunction(self.deployer, retry_attempts=2, dead_letter_queue=dead_letters)],
        )
        events.Rule(
            self,
            "ReconcileSchedule",
            description="The deployer reconciles live with the registry's champion",
            schedule=events.Schedule.rate(RECONCILE_EVERY),
            targets=[targets.LambdaFunction(self.deployer, retry_attempts=2, dead_letter_queue=dead_letters)],
        )
        events.Rule(
            self,
            "OnRolloutFailed",
            description="A rollout's end is recorded in the lineage; a failed or stopped one moves champion back",
            event_pattern=events.EventPattern(
                source=["aws.codedeploy"],
                detail_type=["CodeDeploy Deployment State-change Notification"],
                detail={
                    "state": ["SUCCESS", "FAILURE", "STOP"],
                    "application": [self.application.application_name],
                    "deploymentGroup": [self.deployment_group.deployment_group_name],
                },
            ),
            targets=[targets.LambdaFunction(self.outcome_recorder, retry_attempts=2, dead_letter_queue=dead_letters)],
        )
