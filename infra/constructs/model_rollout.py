"""Safe rollout of a promoted model: CodeDeploy canary on the inference function's alias `live`.

Promotion (``Model Alias Moved``, alias ``champion``, source ``mlops.registry``)
starts the Deployer, which pins the model version in a new function version
and starts a deployment. The deployment group shifts ``canary_percent`` of
traffic for ``canary_minutes`` after a BeforeAllowTraffic smoke test, and
rolls back when one of the canary alarms (5xx rate, p99 latency, baseline
agreement of the predictions, all for the new model version) goes off. The
outcome recorder adds every deployment's end to the lineage and, for a failed
or stopped one, moves the registry's champion back.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Fn, Stack
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

# The deployer re-points the alarms at the version being rolled out; until then they watch no traffic.
PENDING_VERSION = "none"


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
        self.deployer = factory.function(
            f"Deployer{suffix}",
            handler="functions.handlers.deploy_model.handler",
            sizing=config.pipeline_step,
            environment={
                **environment,
                env_names.INFERENCE_FUNCTION: function.function_name,
                env_names.SERVING_ALIAS: alias.alias_name,
                env_names.DEPLOY_APPLICATION: self.application.application_name,
                env_names.DEPLOY_GROUP: self.deployment_group.deployment_group_name,
                env_names.PRE_TRAFFIC_HOOK: self.pre_traffic_hook.function_name,
                env_names.CANARY_ALARMS: Fn.join(",", [a.alarm_name for a in self.alarms]),
            },
            description="On champion promotion: publish a pinned inference version and start its canary",
            async_dead_letters=self.dead_letters,
        )
        self.outcome_recorder = factory.function(
            f"RolloutOutcome{suffix}",
            handler="functions.handlers.rollout_outcome.handler",
            sizing=config.pipeline_step,
            environment=environment,
            description="On a failed or stopped rollout: move the registry's champion back",
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
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:PublishVersion",
                ],
                resources=[function.function_arn, versions],
            )
        )
        self.deployer.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
                resources=[a.alarm_arn for a in self.alarms],
            )
        )
        self.deployer.add_to_role_policy(
            iam.PolicyStatement(actions=["codedeploy:CreateDeployment"], resources=[group_arn])
        )
        self.deployer.add_to_role_policy(
            iam.PolicyStatement(
                actions=["codedeploy:GetDeploymentConfig"],
                resources=[self.deployment_config.deployment_config_arn],
            )
        )
        self.deployer.add_to_role_policy(
            iam.PolicyStatement(
                actions=["codedeploy:RegisterApplicationRevision", "codedeploy:GetApplicationRevision"],
                resources=[self.application.application_arn],
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
