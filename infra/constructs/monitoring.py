"""Monitoring and the one retraining trigger layer.

- the ``Monitor`` Lambda on an EventBridge schedule (drift, live quality, capture volume as EMF metrics);
- alarms (drift share, live quality drop, API 5xx rate, API p99 latency, pipeline failure),
  each notifying the alarm topic;
- a CloudWatch dashboard of those metrics plus API and pipeline health;
- every retraining trigger through EventBridge into the ``RetrainGuard`` Lambda:
  an EventBridge Scheduler schedule (``retrain_schedule``), the drift and quality
  alarms entering ALARM (and, later, new data); the guard applies cooldown,
  single-run lock and daily budget, then starts the training pipeline;
- the training state machine's "Execution Status Change" events release the lock;
- a dead-letter queue on every rule and schedule target.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnResource, Duration, RemovalPolicy, Stack, TimeZone
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.shared import settings as env_names
from infra.config import StageConfig
from infra.constructs.encryption import grant as grant_key
from infra.constructs.function_factory import FunctionFactory
from infra.nag import acknowledge

_FINISHED = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
_MAX_EVENT_AGE = Duration.hours(2)
_RETRIES = 3


class Monitoring(Construct):
    """Monitor, alarms, dashboard, and the guarded retraining triggers."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        factory: FunctionFactory,
        capture_bucket: str,
        artifact_bucket: str,
        registry_table: str,
        state_machine: sfn.StateMachine,
        api: apigw.RestApi,
        serving: lambda_.IFunction,
        alarm_topic: sns.ITopic,
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        namespace = f"Mlops/{config.name}"
        self.monitor = factory.function(
            "Monitor",
            handler="functions.handlers.monitor.handler",
            sizing=config.pipeline_step,
            environment={
                env_names.CAPTURE_BUCKET: capture_bucket,
                env_names.ARTIFACT_BUCKET: artifact_bucket,
                env_names.REGISTRY_TABLE: registry_table,
                env_names.MODEL_NAME: config.model_name,
                env_names.MONITOR_WINDOW_MINUTES: str(config.monitor_window_minutes),
                env_names.MONITOR_QUALITY_WINDOW_MINUTES: str(config.monitor_quality_window_minutes),
                env_names.MONITOR_MIN_ROWS: str(config.monitor_min_rows),
                env_names.MONITOR_MIN_LABELLED: str(config.monitor_min_labelled),
            },
            description="Drift and live quality of the champion over the last window",
            async_dead_letters=dead_letters,
        )
        self.monitor_schedule = events.Rule(
            self,
            "MonitorSchedule",
            description="Runs the drift and quality monitor (stage config monitor_schedule)",
            schedule=events.Schedule.expression(config.monitor_schedule),
        )
        self.monitor_schedule.add_target(self._lambda_target(self.monitor, dead_letters))

        self.guard_table = dynamodb.Table(
            self,
            "GuardTable",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=(
                dynamodb.TableEncryption.CUSTOMER_MANAGED if factory.key else dynamodb.TableEncryption.AWS_MANAGED
            ),
            encryption_key=factory.key,
            time_to_live_attribute="expires_at",
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        self.guard = factory.function(
            "RetrainGuard",
            handler="functions.handlers.retrain_guard.handler",
            sizing=config.pipeline_step,
            environment={
                env_names.GUARD_TABLE: self.guard_table.table_name,
                env_names.TRAINING_STATE_MACHINE_ARN: state_machine.state_machine_arn,
                env_names.TRAINING_WINDOW_DAYS: str(config.training_window_days),
                env_names.MODEL_NAME: config.model_name,
                env_names.RETRAIN_COOLDOWN_SECONDS: str(config.retrain_cooldown_s),
                env_names.RETRAIN_DAILY_BUDGET: str(config.retrain_daily_budget),
                # A run that died without a status event frees the lock after its own timeout.
                env_names.RETRAIN_LOCK_SECONDS: str(config.pipeline_timeout_s + 300),
            },
            description="Cooldown, single-run lock and daily budget in front of the training pipeline",
            async_dead_letters=dead_letters,
        )
        self.guard.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"],
                resources=[self.guard_table.table_arn],
            )
        )
        self.guard.add_to_role_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[state_machine.state_machine_arn])
        )
        if factory.key is not None:
            grant_key(factory.key, self.guard, write=True)
        stack = Stack.of(self)
        executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.guard.add_to_role_policy(iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[executions]))
        assert self.guard.role is not None
        acknowledge(
            self.guard.role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
            f"<{_logical_id(state_machine)}.Name>:*]",
            "The guard describes the execution holding the lock (named at run time) to find stale locks; "
            "the grant is limited to executions of the training state machine.",
        )
        schedule_role = iam.Role(
            self,
            "RetrainScheduleRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="EventBridge Scheduler: invoke the retrain guard, dead-letter what it cannot deliver",
        )

        self.alarms = self._alarms(config, namespace, state_machine, api)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))

        # Triggers: every one reaches the guard, never the state machine directly.
        self.retrain_schedule = scheduler.Schedule(
            self,
            "RetrainSchedule",
            description="Scheduled retraining (stage config retrain_schedule), through the retrain guard",
            schedule=scheduler.ScheduleExpression.expression(config.retrain_schedule, TimeZone.ETC_UTC),
            target=scheduler_targets.LambdaInvoke(
                self.guard,
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        "trigger": {
                            "type": "schedule",
                            "schedule": f"{config.prefix}-retrain",
                            "time": scheduler.ContextAttribute.scheduled_time,
                        }
                    }
                ),
                dead_letter_queue=dead_letters,
                retry_attempts=_RETRIES,
                max_event_age=_MAX_EVENT_AGE,
                role=schedule_role,
            ),
        )
        acknowledge(
            schedule_role,
            f"AwsSolutions-IAM5[Resource::<{_logical_id(self.guard)}.Arn>:*]",
            "CDK's grant_invoke also covers the guard function's versions and aliases (ARN:*); "
            "it is this one function only.",
        )
        self.alarm_trigger = events.Rule(
            self,
            "AlarmTrigger",
            description="Drift or live-quality alarm entering ALARM asks the guard for a retrain",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[self.alarms[name].alarm_arn for name in ("Drift", "LiveQuality")],
                detail={"state": {"value": ["ALARM"]}},
            ),
        )
        self.alarm_trigger.add_target(self._lambda_target(self.guard, dead_letters))
        self.run_finished = events.Rule(
            self,
            "TrainingRunFinished",
            description="A finished training execution releases the retrain lock",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"stateMachineArn": [state_machine.state_machine_arn], "status": _FINISHED},
            ),
        )
        self.run_finished.add_target(self._lambda_target(self.guard, dead_letters))

        self.dashboard = self._dashboard(config, namespace, state_machine, api, serving)

    @staticmethod
    def _lambda_target(fn: lambda_.IFunction, dead_letters: sqs.IQueue) -> targets.LambdaFunction:
        return targets.LambdaFunction(
            fn, dead_letter_queue=dead_letters, retry_attempts=_RETRIES, max_event_age=_MAX_EVENT_AGE
        )

    def _monitor_metric(self, config: StageConfig, namespace: str, name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=name,
            dimensions_map={"service": "Monitor", "model": config.model_name},
            statistic=statistic,
            period=Duration.minutes(config.monitor_window_minutes),
        )

    def _alarms(
        self, config: StageConfig, namespace: str, state_machine: sfn.StateMachine, api: apigw.RestApi
    ) -> dict[str, cloudwatch.Alarm]:
        missing_ok = cloudwatch.TreatMissingData.NOT_BREACHING
        at_least = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        return {
            "Drift": cloudwatch.Alarm(
                self,
                "DriftAlarm",
                alarm_description="Share of drifted features reached the threshold (retrains through the guard)",
                metric=self._monitor_metric(config, namespace, "DriftShare", "Maximum"),
                threshold=config.drift_share_alarm,
                evaluation_periods=1,
                comparison_operator=at_least,
                treat_missing_data=missing_ok,
            ),
            "LiveQuality": cloudwatch.Alarm(
                self,
                "LiveQualityAlarm",
                alarm_description="Live accuracy over labelled predictions fell below the minimum (retrains)",
                metric=self._monitor_metric(config, namespace, "LiveAccuracy", "Minimum"),
                threshold=config.min_live_accuracy,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=missing_ok,
            ),
            "Api5xxRate": cloudwatch.Alarm(
                self,
                "Api5xxRateAlarm",
                alarm_description="Share of API requests answered 5xx",
                metric=api.metric_server_error(statistic="Average", period=Duration.minutes(5)),
                threshold=config.api_5xx_rate_alarm,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                comparison_operator=at_least,
                treat_missing_data=missing_ok,
            ),
            "ApiLatencyP99": cloudwatch.Alarm(
                self,
                "ApiLatencyP99Alarm",
                alarm_description="API p99 latency above the stage limit",
                metric=api.metric_latency(statistic="p99", period=Duration.minutes(5)),
                threshold=config.api_p99_latency_ms,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                comparison_operator=at_least,
                treat_missing_data=missing_ok,
            ),
            "PipelineFailure": cloudwatch.Alarm(
                self,
                "PipelineFailureAlarm",
                alarm_description="A training pipeline execution failed",
                metric=state_machine.metric_failed(statistic="Sum", period=Duration.minutes(5)),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=at_least,
                treat_missing_data=missing_ok,
            ),
        }

    def _dashboard(
        self,
        config: StageConfig,
        namespace: str,
        state_machine: sfn.StateMachine,
        api: apigw.RestApi,
        serving: lambda_.IFunction,
    ) -> cloudwatch.Dashboard:
        def monitor(name: str, statistic: str = "Maximum") -> cloudwatch.Metric:
            return self._monitor_metric(config, namespace, name, statistic)

        feature_scores = cloudwatch.MathExpression(
            expression=(
                f'SEARCH(\'{{{namespace},feature,model}} MetricName="FeatureDriftScore" '
                f"model=\"{config.model_name}\"', 'Maximum', {config.monitor_window_minutes * 60})"
            ),
            label="",
            period=Duration.minutes(config.monitor_window_minutes),
        )
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{config.prefix}-mlops")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Drift share / prediction drift",
                left=[monitor("DriftShare"), monitor("PredictionDriftScore")],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=config.drift_share_alarm, label="alarm")],
                width=8,
            ),
            cloudwatch.GraphWidget(title="Per-feature drift score", left=[feature_scores], width=8),
            cloudwatch.GraphWidget(
                title="Live quality",
                left=[monitor("LiveAccuracy", "Minimum"), monitor("LiveF1", "Minimum")],
                right=[monitor("LabelDelayMedian", "Average")],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Captured predictions / rejected lines",
                left=[monitor("CaptureVolume", "Sum"), monitor("RejectedLines", "Sum")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API latency (p50, p99)",
                left=[api.metric_latency(statistic="p50"), api.metric_latency(statistic="p99")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API errors and throttles",
                left=[
                    api.metric_server_error(statistic="Sum"),
                    api.metric_client_error(statistic="Sum"),
                    serving.metric_throttles(statistic="Sum"),
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Training pipeline",
                left=[
                    state_machine.metric_succeeded(statistic="Sum"),
                    state_machine.metric_failed(statistic="Sum"),
                    state_machine.metric_timed_out(statistic="Sum"),
                ],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=12),
        )
        return dashboard


def _logical_id(construct: Construct) -> str:
    resource = construct.node.default_child
    assert isinstance(resource, CfnResource)
    return Stack.of(construct).get_logical_id(resource)
