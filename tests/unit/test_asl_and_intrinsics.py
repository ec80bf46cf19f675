"""The ASL renderer, the intrinsic resolver and schedule parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from infra.asl import AslRenderError, render_asl
from mlops.local.events import cron_to_croniter, firings, transform_input
from mlops.local.intrinsics import IntrinsicError, PhysicalResource, Resolver

STEP_ARNS = [
    "RunRecorderFunctionArn",
    "BuildTrainingSetFunctionArn",
    "ValidateDataFunctionArn",
    "SplitFunctionArn",
    "TrainFunctionArn",
    "EvaluateFunctionArn",
    "RegisterFunctionArn",
    "PromoteFunctionArn",
    "CollectTrainingResultFunctionArn",
    "EstimateTrainingSetFunctionArn",
    "CollectBatchStepFunctionArn",
    "TrainingJobQueueArn",
    "TrainingJobDefinitionArn",
]
TIMEOUTS = {
    "PipelineTimeoutSeconds": 600,
    "StepTimeoutSeconds": 90,
    "TrainTimeoutSeconds": 330,
    "BatchTrainTimeoutSeconds": 3900,
    "BatchThresholdRows": 200000,
    "DataPrepMemoryMb": 2048,
}


def test_render_turns_numeric_placeholders_into_integers_and_keeps_deferred_ones() -> None:
    document = json.loads(render_asl("training_pipeline", TIMEOUTS, STEP_ARNS))
    assert document["TimeoutSeconds"] == 600
    assert document["States"]["Train"]["TimeoutSeconds"] == 330
    assert document["States"]["Train"]["Parameters"]["FunctionName"] == "${TrainFunctionArn}"


def test_render_refuses_missing_and_unused_values() -> None:
    with pytest.raises(AslRenderError, match="no value: TrainTimeoutSeconds"):
        render_asl("training_pipeline", {k: v for k, v in TIMEOUTS.items() if k != "TrainTimeoutSeconds"}, STEP_ARNS)
    with pytest.raises(AslRenderError, match="does not use: Bogus"):
        render_asl("training_pipeline", {**TIMEOUTS, "Bogus": 1}, STEP_ARNS)
    with pytest.raises(AslRenderError, match="no state machine definition"):
        render_asl("nope", {}, [])


@pytest.fixture
def resolver() -> Resolver:
    return Resolver(
        stack_name="S",
        account="123456789012",
        region="eu-west-1",
        resources={"Bucket": PhysicalResource("b-1", {"Arn": "arn:aws:s3:::b-1"})},
        parameters={"Env": "dev"},
        exports={"Shared": "value"},
        conditions={"IsDev": True},
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Ref": "Bucket"}, "b-1"),
        ({"Ref": "Env"}, "dev"),
        ({"Ref": "AWS::Region"}, "eu-west-1"),
        ({"Fn::GetAtt": ["Bucket", "Arn"]}, "arn:aws:s3:::b-1"),
        ({"Fn::GetAtt": "Bucket.Arn"}, "arn:aws:s3:::b-1"),
        ({"Fn::Join": ["/", [{"Ref": "Bucket"}, "k"]]}, "b-1/k"),
        ({"Fn::Sub": "${Bucket.Arn}/x-${AWS::AccountId}"}, "arn:aws:s3:::b-1/x-123456789012"),
        ({"Fn::Sub": ["${A}-${Env}", {"A": {"Ref": "Bucket"}}]}, "b-1-dev"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}, "b"),
        ({"Fn::ImportValue": "Shared"}, "value"),
        ({"Fn::If": ["IsDev", "yes", "no"]}, "yes"),
        ([{"Ref": "AWS::NoValue"}, 1], [1]),
    ],
)
def test_intrinsics_resolve(resolver: Resolver, expression: object, expected: object) -> None:
    assert resolver.resolve(expression, "here") == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ({"Ref": "Nothing"}, "Ref to 'Nothing'"),
        ({"Fn::GetAtt": ["Bucket", "WebsiteURL"]}, "no attribute 'WebsiteURL'"),
        ({"Fn::FindInMap": ["M", "a", "b"]}, "Fn::FindInMap is not supported"),
        ({"Fn::ImportValue": "Other"}, "no stack exports 'Other'"),
    ],
)
def test_unresolvable_intrinsics_are_clear_errors(resolver: Resolver, expression: object, message: str) -> None:
    with pytest.raises(IntrinsicError, match=message):
        resolver.resolve(expression, "here")


def test_aws_cron_converts_day_of_week_numbering() -> None:
    assert cron_to_croniter("0 3 ? * 2 *") == "0 3 * * 1"
    assert cron_to_croniter("0 3 ? * MON *") == "0 3 * * MON"
    with pytest.raises(ValueError, match="year field"):
        cron_to_croniter("0 3 ? * MON 2027")


def test_firings_of_rate_and_cron_in_a_window() -> None:
    start = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday
    end = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    assert len(firings("rate(1 day)", start, end)) == 14
    mondays = firings("cron(0 3 ? * MON *)", start, end)
    assert [t.day for t in mondays] == [23, 30, 7]


def test_input_transformer_quotes_strings_outside_json_strings() -> None:
    event = {"detail": {"name": "a", "n": 2}, "time": "t"}
    rendered = transform_input(
        '{"x": <name>, "n": <n>, "s": "name=<name>"}', {"name": "$.detail.name", "n": "$.detail.n"}, event
    )
    assert rendered == {"x": "a", "n": 2, "s": "name=a"}
