"""Monitoring and the one retraining trigger layer.

``Monitoring`` holds what a stage has once (the guard table, API and pipeline alarms, the
dashboard, the rule that releases retrain locks); ``ModelMonitoring`` what each of the
project's served models has of its own:

- the ``Monitor`` Lambda on an EventBridge schedule (drift, live quality, capture volume as EMF metrics);
- alarms (drift share, live quality drop, the monitor's heartbeat, API 5xx rate, API p99 latency),
  each notifying the alarm topic (the pipelines' failures: ``failure_alarms.FailureAlarms``);
- a CloudWatch dashboard of those metrics plus API and pipeline health;
- every retraining trigger through EventBridge into the ``RetrainGuard`` Lambda:
  an EventBridge Scheduler schedule (``retrain_schedule``), the drift and quality
  alarms entering ALARM (and, later, new data); the guard applies cooldown,
  single-run lock and daily budget, then starts the training pipeline;
- the training state machine's "Execution Status Change" events release the lock;
- a dead-letter queue on every rule and schedule target.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from infra.constructs.rates import server_error_rate
from infra.constructs.training_pipeline import training_timeout_s
from infra.nag import acknowledge

_FINISHED = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
_MAX_EVENT_AGE = Duration.hours(2)
_RETRIES = 3


class Monitoring(Construct):
    """What the stage monitors once: API and pipeline alarms, the dashboard, the retrain lock's table and release."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        factory: FunctionFactory,
        state_machine: sfn.StateMachine,
        api: apigw.RestApi,
        alarm_topic: sns.ITopic,
        dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config, self._factory, self._state_machine = config, factory, state_machine
        self._api, self._alarm_topic, self._dead_letters = api, alarm_topic, dead_letters
        self.namespace = f"Mlops/{config.name}"
        self.models: list[ModelMonitoring] = []
        # One table for every model's guard: items are keyed by model (GUARD#<model>, BUDGET#<model>#<day>).
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
        self.alarms = self._alarms(config, api)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))
        # A finished training execution releases the lock of the model's guard that started it.
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

    def add_model(
        self,
        *,
        model_name: str,
        suffix: str,
        capture_bucket: str,
        artifact_bucket: str,
        offline_bucket: str,
        registry_table: str,
        serving: lambda_.IFunction,
        live_quality: tuple[str, float, bool] | None,
    ) -> ModelMonitoring:
        """The monitor, alarms, guard and triggers of one served model."""
        monitored = ModelMonitoring(
            self,
            f"Model{suffix}",
            parent=self,
            model_name=model_name,
            suffix=suffix,
            capture_bucket=capture_bucket,
            artifact_bucket=artifact_bucket,
            offline_bucket=offline_bucket,
            registry_table=registry_table,
            serving=serving,
            live_quality=live_quality,
        )
        self.run_finished.add_target(_lambda_target(monitored.guard, self._dead_letters))
        self.models.append(monitored)
        return monitored

    def _alarms(self, config: StageConfig, api: apigw.RestApi) -> dict[str, cloudwatch.Alarm]:
        missing_ok = cloudwatch.TreatMissingData.NOT_BREACHING
        at_least = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        return {
            "Api5xxRate": cloudwatch.Alarm(
                self,
                "Api5xxRateAlarm",
                alarm_description="Share of API requests answered 5xx, in periods of at least "
                f"{config.alarm_min_requests} requests",
                metric=server_error_rate(
                    errors=api.metric_server_error(statistic="Sum"),
                    requests=api.metric_count(statistic="Sum"),
                    min_requests=config.alarm_min_requests,
                    period=Duration.minutes(5),
                ),
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
        }

    def dashboard(self, *, other_alarms: Sequence[cloudwatch.IAlarm] = ()) -> cloudwatch.Dashboard:
        """The stage's dashboard: each model's drift and quality, then API and pipeline health (call once).

        ``other_alarms`` (e.g. the stack's ``FailureAlarms``) join the alarm status widget."""
        config, api, state_machine = self._config, self._api, self._state_machine
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{config.prefix}-mlops")
        for model in self.models:
            dashboard.add_widgets(*model.widgets())
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API latency (p50, p99)",
                left=[api.metric_latency(statistic="p50"), api.metric_latency(statistic="p99")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API errors and throttles",
                left=[
                    api.metric_server_error(statistic="Sum"),
                    api.metric_client_error(statistic="Sum"),
                    *(model.serving.metric_throttles(statistic="Sum") for model in self.models),
                ],
                width=12,
            ),
        )
        alarms = [
            *self.alarms.values(),
            *(a for model in self.models for a in model.alarms.values()),
            *other_alarms,
        ]
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Training pipeline",
                left=[
                    state_machine.metric_succeeded(statistic="Sum"),
                    state_machine.metric_failed(statistic="Sum"),
                    state_machine.metric_timed_out(statistic="Sum"),
                    state_machine.metric_aborted(statistic="Sum"),
                ],
                width=12,
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms, width=12),
        )
        return dashboard


class ModelMonitoring(Construct):
    """One served model: its monitor, drift and live-quality alarms, retrain guard and triggers."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        parent: Monitoring,
        model_name: str,
        suffix: str,
        capture_bucket: str,
        artifact_bucket: str,
        offline_bucket: str,
        registry_table: str,
        serving: lambda_.IFunction,
        live_quality: tuple[str, float, bool] | None,
    ) -> None:
        super().__init__(scope, construct_id)
        config, factory, state_machine = parent._config, parent._factory, parent._state_machine
        dead_letters, namespace = parent._dead_letters, parent.namespace
        self._config, self.namespace, self.model_name, self.suffix = config, namespace, model_name, suffix
        self.serving = serving
        self.monitor = factory.function(
            f"Monitor{suffix}",
            handler="functions.handlers.monitor.handler",
            sizing=config.pipeline_step,
            environment={
                env_names.CAPTURE_BUCKET: capture_bucket,
                env_names.ARTIFACT_BUCKET: artifact_bucket,
                env_names.REGISTRY_TABLE: registry_table,
                env_names.MODEL_NAME: model_name,
                env_names.MONITOR_WINDOW_MINUTES: str(config.monitor_window_minutes),
                env_names.MONITOR_QUALITY_WINDOW_MINUTES: str(config.monitor_quality_window_minutes),
                env_names.MONITOR_MIN_ROWS: str(config.monitor_min_rows),
                env_names.MONITOR_MIN_LABELLED: str(config.monitor_min_labelled),
                env_names.FEATURE_OFFLINE_BUCKET: offline_bucket,
                env_names.FEEDBACK_MAX_LABEL_DELAY_HOURS: str(config.feedback_max_label_delay_hours),
                env_names.DRIFT_SAMPLE_RATE: str(config.drift_sample_rate),
            },
            description=f"Drift and live quality of {model_name}'s champion over the last window",
            async_dead_letters=dead_letters,
        )
        self.monitor_schedule = events.Rule(
            self,
            "MonitorSchedule",
            description=f"Runs the drift and quality monitor of {model_name} (stage config monitor_schedule)",
            schedule=events.Schedule.expression(config.monitor_schedule),
        )
        self.monitor_schedule.add_target(_lambda_target(self.monitor, dead_letters))

        self.guard_table = parent.guard_table
        self.guard = factory.function(
            f"RetrainGuard{suffix}",
            handler="functions.handlers.retrain_guard.handler",
            sizing=config.pipeline_step,
            environment={
                env_names.GUARD_TABLE: self.guard_table.table_name,
                env_names.TRAINING_STATE_MACHINE_ARN: state_machine.state_machine_arn,
                env_names.MODEL_NAME: model_name,
                env_names.RETRAIN_COOLDOWN_SECONDS: str(config.retrain_cooldown_s),
                env_names.RETRAIN_DAILY_BUDGET: str(config.retrain_daily_budget),
                # A run that died without a status event frees the lock after its own timeout.
                env_names.RETRAIN_LOCK_SECONDS: str(training_timeout_s(config) + 300),
                # The monitor's runs: an alarm trigger links to the one whose metrics fired it.
                env_names.ARTIFACT_BUCKET: artifact_bucket,
            },
            description=f"Cooldown, single-run lock and daily budget in front of {model_name}'s training",
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

        self.alarms = self._alarms(config, live_quality)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(cw_actions.SnsAction(parent._alarm_topic))

        # Triggers: every one reaches the guard, never the state machine directly.
        self.retrain_schedule = scheduler.Schedule(
            self,
            "RetrainSchedule",
            description=f"Scheduled retraining of {model_name} (stage config retrain_schedule), through its guard",
            schedule=scheduler.ScheduleExpression.expression(config.retrain_schedule, TimeZone.ETC_UTC),
            target=scheduler_targets.LambdaInvoke(
                self.guard,
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        "trigger": {
                            "type": "schedule",
                            "schedule": f"{config.prefix}-retrain{'-' + model_name if suffix else ''}",
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
            description=f"{model_name}'s drift or live-quality alarm entering ALARM asks its guard for a retrain",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=[alarm.alarm_arn for name, alarm in self.alarms.items() if name in ("Drift", "LiveQuality")],
                detail={"state": {"value": ["ALARM"]}},
            ),
        )
        self.alarm_trigger.add_target(_lambda_target(self.guard, dead_letters))

    def _monitor_metric(self, name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=name,
            dimensions_map={"service": f"Monitor{self.suffix}", "model": self.model_name},
            statistic=statistic,
            period=Duration.minutes(self._config.monitor_window_minutes),
        )

    def _alarms(self, config: StageConfig, live_quality: tuple[str, float, bool] | None) -> dict[str, cloudwatch.Alarm]:
        missing_ok = cloudwatch.TreatMissingData.NOT_BREACHING
        alarms = {
            "Drift": cloudwatch.Alarm(
                self,
                "DriftAlarm",
                alarm_description=f"Share of {self.model_name}'s drifted features reached the threshold (retrains)",
                metric=self._monitor_metric("DriftShare", "Maximum"),
                threshold=config.drift_share_alarm,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=missing_ok,
            )
        }
        if live_quality is not None:
            metric, threshold, higher_is_better = live_quality
            alarms["LiveQuality"] = cloudwatch.Alarm(
                self,
                "LiveQualityAlarm",
                alarm_description=f"{self.model_name}'s live {metric} over labelled predictions crossed its limit "
                "(retrains)",
                metric=self._monitor_metric(metric, "Minimum" if higher_is_better else "Maximum"),
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
                if higher_is_better
                else cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=missing_ok,
            )
        alarms["Heartbeat"] = self._heartbeat(config)
        return alarms

    def _heartbeat(self, config: StageConfig) -> cloudwatch.Alarm:
        """ALARM when the monitor has not reported for two windows: every run, skipped or not, emits
        ``WindowSkipped`` (0 or 1), so no datapoint means no run (schedule gone, function failing)."""
        period = config.monitor_window_minutes * 60
        # CloudWatch bounds period x evaluation periods: 1 day under hourly periods, else 7 days.
        periods = 2 if 2 * period <= (86400 if period < 3600 else 604800) else 1
        return cloudwatch.Alarm(
            self,
            "MonitorHeartbeatAlarm",
            alarm_description=f"{self.model_name}'s monitor has not run for {periods * config.monitor_window_minutes}"
            " minutes (its schedule, its function or its metrics stopped; see the Monitor's errors alarm)",
            metric=self._monitor_metric("WindowSkipped", "SampleCount"),
            threshold=1,
            evaluation_periods=periods,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )

    def widgets(self) -> list[cloudwatch.IWidget]:
        """This model's row of the stage dashboard."""
        config, namespace = self._config, self.namespace
        feature_scores = cloudwatch.MathExpression(
            expression=(
                f'SEARCH(\'{{{namespace},feature,model}} MetricName="FeatureDriftScore" '
                f"model=\"{self.model_name}\"', 'Maximum', {config.monitor_window_minutes * 60})"
            ),
            label="",
            period=Duration.minutes(config.monitor_window_minutes),
        )
        return [
            cloudwatch.GraphWidget(
                title=f"{self.model_name}: drift share / prediction drift",
                left=[
                    self._monitor_metric("DriftShare", "Maximum"),
                    self._monitor_metric("PredictionDriftScore", "Maximum"),
                ],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=config.drift_share_alarm, label="alarm")],
                width=6,
            ),
            cloudwatch.GraphWidget(title=f"{self.model_name}: per-feature drift score", left=[feature_scores], width=6),
            cloudwatch.GraphWidget(
                title=f"{self.model_name}: live quality",
                left=[self._monitor_metric(m, "Minimum") for m in ("LiveAccuracy", "LiveF1", "LiveMAE", "LiveRMSE")],
                right=[self._monitor_metric("LabelDelayMedian", "Average")],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title=f"{self.model_name}: captured predictions / rejected lines",
                left=[self._monitor_metric("CaptureVolume", "Sum"), self._monitor_metric("RejectedLines", "Sum")],
                width=6,
            ),
        ]


def _lambda_target(fn: lambda_.IFunction, dead_letters: sqs.IQueue) -> targets.LambdaFunction:
    return targets.LambdaFunction(
        fn, dead_letter_queue=dead_letters, retry_attempts=_RETRIES, max_event_age=_MAX_EVENT_AGE
    )


def _logical_id(construct: Construct) -> str:
    resource = construct.node.default_child
    assert isinstance(resource, CfnResource)
    return Stack.of(construct).get_logical_id(resource)
