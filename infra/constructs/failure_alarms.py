"""Alarms on what runs with nobody watching: every state machine, every queue, every unattended function.

``FailureAlarms.watch(stack)`` walks the finished stack, so a state machine, queue or function added
later gets its alarm without anyone remembering to add one (``tests/infra/test_failure_alarms.py``
checks the template independently):

- each state machine: its executions that failed, timed out or were aborted (one metric-math alarm
  over ``ExecutionsFailed``, ``ExecutionsTimedOut`` and ``ExecutionsAborted``);
- each SQS queue (all of the stack's queues are dead-letter queues): any message visible
  (``ApproximateNumberOfMessagesVisible`` > 0), i.e. an event that exhausted its retries;
- each unattended function (invoked asynchronously: by an EventBridge rule or schedule, the
  Scheduler, S3, SNS or CodeDeploy, so no caller sees its failure): any error (``Errors`` >= 1).
  Functions behind a state machine (its alarm sees their failures) or the API (its rate alarms) are
  not unattended;
- each Firehose delivery stream (the prediction captures): a period in which not every delivery to S3
  succeeded (``DeliveryToS3.Success`` below 1), as a failing stream drops captures after its retries.

Each alarm notifies the stage's alarm topic.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StageConfig

_AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
_MISSING_OK = cloudwatch.TreatMissingData.NOT_BREACHING


class FailureAlarms(Construct):
    """One alarm per state machine, queue and unattended function of a stack, each notifying ``topic``."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self._period = Duration.minutes(config.alarm_period_minutes)
        self._topic = topic
        self.alarms: list[cloudwatch.Alarm] = []

    def watch(self, stack: Stack) -> None:
        """Alarm on every state machine, queue and unattended function built in ``stack`` so far (call last)."""
        for construct in stack.node.find_all():
            if isinstance(construct, sfn.StateMachine):
                self._state_machine(construct)
            elif isinstance(construct, sqs.Queue):
                self._queue(construct)
            elif isinstance(construct, lambda_.Function) and _invoked_async(construct):
                self._function(construct)
            elif isinstance(construct, firehose.CfnDeliveryStream):
                self._delivery_stream(construct)

    def _add(self, alarm: cloudwatch.Alarm) -> None:
        alarm.add_alarm_action(cw_actions.SnsAction(self._topic))
        self.alarms.append(alarm)

    def _state_machine(self, machine: sfn.StateMachine) -> None:
        ended_badly = {
            "failed": machine.metric_failed(statistic="Sum", period=self._period),
            "timedOut": machine.metric_timed_out(statistic="Sum", period=self._period),
            "aborted": machine.metric_aborted(statistic="Sum", period=self._period),
        }
        self._add(
            cloudwatch.Alarm(
                self,
                f"{_owner(machine)}{machine.node.id}Failures",
                alarm_description=f"Executions of {machine.node.path} failed, timed out or were aborted "
                "(see the execution's error in the Step Functions console or its run record)",
                metric=cloudwatch.MathExpression(
                    # FILL: a period with one failure and no timeout is still one bad execution.
                    expression=" + ".join(f"FILL({name}, 0)" for name in ended_badly),
                    using_metrics=ended_badly,
                    label="failed + timed out + aborted executions",
                    period=self._period,
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=_AT_LEAST,
                treat_missing_data=_MISSING_OK,
            )
        )

    def _queue(self, queue: sqs.Queue) -> None:
        self._add(
            cloudwatch.Alarm(
                self,
                f"{_owner(queue)}{queue.node.id}Depth",
                alarm_description=f"Dead-letter queue {queue.node.path} holds messages: events that exhausted "
                "their retries (inspect and replay them, docs/operations.md)",
                metric=queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=self._period),
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=_MISSING_OK,
            )
        )

    def _delivery_stream(self, stream: firehose.CfnDeliveryStream) -> None:
        self._add(
            cloudwatch.Alarm(
                self,
                f"{_owner(stream)}{stream.node.id}Delivery",
                alarm_description=f"Firehose stream {stream.node.path} failed deliveries to S3 (captured predictions "
                "are dropped once its retries run out; see its capture-errors/ prefix and the stream's error logs)",
                metric=cloudwatch.Metric(
                    namespace="AWS/Firehose",
                    metric_name="DeliveryToS3.Success",
                    dimensions_map={"DeliveryStreamName": stream.ref},
                    statistic="Minimum",
                    period=self._period,
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=_MISSING_OK,
            )
        )

    def _function(self, function: lambda_.Function) -> None:
        self._add(
            cloudwatch.Alarm(
                self,
                f"{function.node.id}Errors",
                alarm_description=f"Unattended function {function.node.id} failed (no caller sees it: read its log "
                "group; events that exhaust their retries land in its dead-letter queue)",
                metric=function.metric_errors(statistic="Sum", period=self._period),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=_AT_LEAST,
                treat_missing_data=_MISSING_OK,
            )
        )


def _invoked_async(function: lambda_.Function) -> bool:
    """Configured for asynchronous invocation (a dead-letter queue, or retries and age of async events)."""
    return function.dead_letter_queue is not None or function.node.try_find_child("EventInvokeConfig") is not None


def _owner(construct: Construct) -> str:
    """The id of the construct that holds ``construct`` (``TrainingPipeline`` for its ``StateMachine``)."""
    scope = construct.node.scope
    return scope.node.id if scope is not None else ""
