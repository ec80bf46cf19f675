"""HTTPS inference API: API Gateway (REST) -> inference Lambda, API key + usage plan."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.function_factory import FunctionFactory, log_retention
from infra.nag import acknowledge

# JSON Schema (draft 4, as API Gateway models require) for POST /predict.
# The gateway checks the envelope; the handler checks each record against
# the serving model's signature, which only it knows.
PREDICT_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="PredictRequest",
    type=apigw.JsonSchemaType.OBJECT,
    required=["records"],
    additional_properties=False,
    properties={
        "records": apigw.JsonSchema(
            type=apigw.JsonSchemaType.ARRAY,
            min_items=1,
            items=apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT),
        )
    },
)


class InferenceApi(Construct):
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
        self.function = factory.function(
            "Inference",
            handler="functions.handlers.inference.handler",
            sizing=config.inference,
            environment=environment,
            description="POST /predict and GET /health",
        )
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{config.prefix}-inference",
            description="Model inference over HTTPS",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                throttling_rate_limit=config.api_rate_limit_rps,
                throttling_burst_limit=config.api_burst_limit,
                logging_level=apigw.MethodLoggingLevel.INFO,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                tracing_enabled=True,
                metrics_enabled=True,
            ),
        )
        # Name the failing field in 400s from the gateway's own validation.
        self.api.add_gateway_response(
            "BadRequestBody",
            type=apigw.ResponseType.BAD_REQUEST_BODY,
            templates={"application/json": '{"message": "$context.error.validationErrorString"}'},
        )
        integration = apigw.LambdaIntegration(self.function, proxy=True)
        validator = self.api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        model = self.api.add_model("PredictRequest", content_type="application/json", schema=PREDICT_SCHEMA)
        self.api.root.add_resource("predict").add_method(
            "POST",
            integration,
            api_key_required=True,
            request_validator=validator,
            request_models={"application/json": model},
        )
        self.api.root.add_resource("health").add_method("GET", integration, api_key_required=True)

        self.api_key = self.api.add_api_key("ClientKey", description="Default client key; add one per client")
        plan = self.api.add_usage_plan(
            "UsagePlan",
            throttle=apigw.ThrottleSettings(rate_limit=config.api_rate_limit_rps, burst_limit=config.api_burst_limit),
        )
        plan.add_api_key(self.api_key)
        plan.add_api_stage(stage=self.api.deployment_stage)

        self.server_errors_alarm = cloudwatch.Alarm(
            self,
            "ServerErrorsAlarm",
            alarm_description="The inference handler answered 500 (a real fault, see its logs by correlation id)",
            metric=cloudwatch.Metric(
                namespace=f"Mlops/{config.name}",
                metric_name="ServerErrors",
                dimensions_map={"service": "Inference"},
                statistic="Sum",
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

        for finding, reason in [
            (
                "AwsSolutions-APIG3",
                "WAF association is a stage option added with the serving hardening; "
                "the usage plan throttles every key meanwhile.",
            ),
            (
                "AwsSolutions-APIG4",
                "Callers are machine clients authenticated by API key (api_key_required on "
                "every method) and throttled by the usage plan.",
            ),
            ("AwsSolutions-COG4", "No end users: machine clients authenticate with API keys, not Cognito."),
        ]:
            acknowledge(self.api, finding, reason)
        acknowledge(
            self.api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level CloudWatch role needs this AWS-managed policy to write execution logs.",
        )

    @property
    def inference_function(self) -> lambda_.IFunction:
        return self.function
