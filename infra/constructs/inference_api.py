"""HTTPS inference API: API Gateway (REST) -> inference Lambda, API key + usage plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import ArnFormat, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from functions.serving.capture_format import CAPTURE_FILTER_PATTERN
from functions.serving.openapi import describe_feature
from functions.serving.signature import ModelSignature
from functions.shared import settings as env_names
from functions.training.model_spec import ModelSpec, Task
from infra.config import StageConfig
from infra.constructs.encryption import grant as grant_key
from infra.constructs.function_factory import FunctionFactory, FunctionImage, log_retention
from infra.constructs.rates import server_error_rate
from infra.nag import acknowledge


def predict_schema(model: ModelSpec) -> apigw.JsonSchema:
    """JSON Schema (draft 4, as API Gateway models require) for POST /predict, from the model's inputs.

    The gateway checks the envelope; each record's properties are the model's features, with
    their dtypes (float, int, string, bool) described but not enforced here: the handler checks
    each value against the signature of the version it serves (during a rollout that may differ
    from this deployment's project) and answers a one-line 400 naming ``records[i].field``.
    """
    signature = ModelSignature.from_spec(model)
    record = apigw.JsonSchema(
        type=apigw.JsonSchemaType.OBJECT,
        description="One record: a value per feature of the serving model's signature (GET /model)",
        properties={f.name: apigw.JsonSchema(description=describe_feature(f)) for f in signature.features},
    )
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        title="PredictRequest",
        type=apigw.JsonSchemaType.OBJECT,
        # Exactly one of the two is required; the handler says so by name when neither or both come.
        additional_properties=False,
        properties={
            "records": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY, min_items=1, items=record),
            "entities": apigw.JsonSchema(
                type=apigw.JsonSchemaType.ARRAY,
                min_items=1,
                items=apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT),
            ),
        },
    )


def feedback_schema(model: ModelSpec) -> apigw.JsonSchema:
    """JSON Schema for POST /feedback: one label, or a list of them (``labels``).

    A label is a class name, or a regression's value (a number). The handler requires exactly one of the
    two shapes and says which field is wrong, by index for a list.
    """
    regression = model.task is Task.REGRESSION
    label = apigw.JsonSchema(
        type=apigw.JsonSchemaType.NUMBER if regression else apigw.JsonSchemaType.STRING,
        description="the true value" if regression else "the true class",
    )
    one = {"prediction_id": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING), "label": label}
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        title="FeedbackRequest",
        type=apigw.JsonSchemaType.OBJECT,
        additional_properties=False,
        properties={
            **one,
            "labels": apigw.JsonSchema(
                type=apigw.JsonSchemaType.ARRAY,
                min_items=1,
                items=apigw.JsonSchema(
                    type=apigw.JsonSchemaType.OBJECT,
                    required=["prediction_id", "label"],
                    additional_properties=False,
                    properties=one,
                ),
            ),
        },
    )


class ModelEndpoint(Construct):
    """One served model: its inference function, alias ``live``, capture stream and server-error alarm.

    One function per model, not one routing function: the rollout canaries a model by shifting
    its function's alias between versions (CodeDeploy), so each model must own its alias to be
    rolled out, watched and rolled back without moving another model's traffic; memory, timeout,
    concurrency, cold starts and failures stay per model too.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        factory: FunctionFactory,
        environment: Mapping[str, str],
        captures: s3.IBucket,
        prediction_key: secretsmanager.ISecret,
        model: ModelSpec,
        suffix: str,
        at_root: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.model = model
        self.capture_stream = _capture_stream(self, config, captures, model.name)
        self.service = f"Inference{suffix}"
        self.function = factory.function(
            self.service,
            handler="functions.handlers.inference.handler",
            sizing=config.inference,
            environment={
                **environment,
                env_names.MODEL_NAME: model.name,
                env_names.CAPTURE_BUCKET: captures.bucket_name,
                env_names.PREDICTION_KEY_SECRET: prediction_key.secret_arn,
                # What the function's GET /openapi.json documents: its routes and how they authenticate.
                env_names.API_AUTH: config.api_auth,
                env_names.API_AT_ROOT: "true" if at_root else "false",
            },
            description=f"{model.name}: POST predict and feedback, GET model, health, openapi.json",
            reserved_concurrency=config.inference_reserved_concurrency,
            # What serving imports only (ONNX models): a smaller image, a shorter cold start.
            image=FunctionImage.SERVING,
        )
        # The function only prints its capture lines: CloudWatch Logs, not the function, writes to the stream.
        self.capture_subscription = _capture_subscription(self, self.function.log_group, self.capture_stream)
        self.function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[captures.arn_for_objects("feedback/*")])
        )
        if captures.encryption_key is not None:
            grant_key(captures.encryption_key, self.function, write=True)
        # Prediction ids carry a MAC under this key (functions/serving/prediction_ids.py); read once per container.
        prediction_key.grant_read(self.function)
        acknowledge(
            self.function.role,  # type: ignore[arg-type]
            f"AwsSolutions-IAM5[Resource::<{_logical_id(captures)}.Arn>/feedback/*]",
            "Feedback object keys carry time and a UUID, unknown at deploy time; the grant is limited to feedback/.",
        )
        # API Gateway calls alias `live`; the rollout shifts it between versions with CodeDeploy.
        self.live = lambda_.Alias(self, "LiveAlias", alias_name="live", version=self.function.current_version)
        # A rate over the function's invocations, judged only in periods of at least alarm_min_requests requests:
        # a few bad requests from anyone with a key cannot fire it (rates.server_error_rate).
        self.server_errors_alarm = cloudwatch.Alarm(
            self,
            "ServerErrorsAlarm",
            alarm_description=f"{model.name}'s inference handler answered 500 to at least "
            f"{config.api_5xx_rate_alarm:.0%} of its requests (a real fault, see its logs)",
            metric=server_error_rate(
                errors=cloudwatch.Metric(
                    namespace=f"Mlops/{config.name}",
                    metric_name="ServerErrors",
                    dimensions_map={"service": self.service},
                    statistic="Sum",
                ),
                requests=self.function.metric_invocations(statistic="Sum"),
                min_requests=config.alarm_min_requests,
                period=Duration.minutes(config.alarm_period_minutes),
            ),
            threshold=config.api_5xx_rate_alarm,
            evaluation_periods=config.alarm_evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


class InferenceApi(Construct):
    """The stage's one REST API; each served model gets routes under ``/models/{name}/`` (``add_model``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        factory: FunctionFactory,
        captures: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config, self._factory, self._captures = config, factory, captures
        self.endpoints: list[ModelEndpoint] = []
        # The key of the stage's prediction ids: only the inference functions may read it (POST /feedback knows an
        # id it never issued without a lookup; see functions/serving/prediction_ids.py).
        self.prediction_key = secretsmanager.Secret(
            self,
            "PredictionKey",
            description=f"{config.prefix}: HMAC key of the inference API's prediction ids",
            encryption_key=factory.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.prediction_key,
            "AwsSolutions-SMG4",
            "A rotated key would turn every prediction id issued before into an unknown id (404 on POST /feedback); "
            "the key signs ids, it authenticates no one, so replacing it is a deliberate operation, not a schedule.",
        )
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
            encryption_key=factory.key,
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
        # API Gateway writes execution logs to a group it names and creates itself, kept forever, unless the group
        # exists before the stage: made here, it has the stage's retention and key.
        execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/v1",
            retention=log_retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
            encryption_key=factory.key,
        )
        self.api.deployment_stage.node.add_dependency(execution_logs)
        # Name the failing field in 400s from the gateway's own validation.
        self.api.add_gateway_response(
            "BadRequestBody",
            type=apigw.ResponseType.BAD_REQUEST_BODY,
            templates={"application/json": '{"message": "$context.error.validationErrorString"}'},
        )
        self._validator = self.api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        self._models_resource = self.api.root.add_resource("models")
        if config.waf_web_acl_arn:
            wafv2.CfnWebACLAssociation(
                self,
                "WebAclAssociation",
                resource_arn=self.api.deployment_stage.stage_arn,
                web_acl_arn=config.waf_web_acl_arn,
            )

        self.api_key = self.api.add_api_key("ClientKey", description="Default client key; add one per client")
        plan = self.api.add_usage_plan(
            "UsagePlan",
            throttle=apigw.ThrottleSettings(rate_limit=config.api_rate_limit_rps, burst_limit=config.api_burst_limit),
        )
        plan.add_api_key(self.api_key)
        plan.add_api_stage(stage=self.api.deployment_stage)

        if not config.waf_web_acl_arn:
            acknowledge(
                self.api,
                "AwsSolutions-APIG3",
                "This stage sets no waf_web_acl_arn (a stage config option); "
                "the usage plan throttles every caller meanwhile.",
            )
        if config.api_auth == "api_key":
            acknowledge(
                self.api,
                "AwsSolutions-APIG4",
                "Callers are machine clients authenticated by API key "
                "(required on every method) and throttled by the usage plan; api_auth='iam' switches to SigV4.",
            )
        acknowledge(
            self.api,
            "AwsSolutions-COG4",
            "No end users: machine clients authenticate with API keys or SigV4, not Cognito user pools.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level CloudWatch role needs this AWS-managed policy to write execution logs.",
        )

    def add_model(
        self, model: ModelSpec, *, suffix: str, environment: Mapping[str, str], at_root: bool
    ) -> ModelEndpoint:
        """Serve ``model`` under ``/models/<name>/`` (and at the root, ``/predict`` ..., when ``at_root``)."""
        endpoint = ModelEndpoint(
            self,
            f"Endpoint{suffix}",
            config=self._config,
            factory=self._factory,
            environment=environment,
            captures=self._captures,
            prediction_key=self.prediction_key,
            model=model,
            suffix=suffix,
            at_root=at_root,
        )
        integration = apigw.LambdaIntegration(endpoint.live, proxy=True)
        predict_model = self.api.add_model(
            f"PredictRequest{suffix}", content_type="application/json", schema=predict_schema(model)
        )
        feedback_model = self.api.add_model(
            f"FeedbackRequest{suffix}", content_type="application/json", schema=feedback_schema(model)
        )
        roots = [self._models_resource.add_resource(model.name), *([self.api.root] if at_root else [])]
        for root in roots:
            self._routes(root, integration, predict_model, feedback_model)
        self.endpoints.append(endpoint)
        return endpoint

    def _routes(
        self,
        root: apigw.IResource,
        integration: apigw.Integration,
        predict_model: apigw.IModel,
        feedback_model: apigw.IModel,
    ) -> None:
        # Every method: an API key (default) or SigV4 (IAM), per stage config.
        iam_auth = self._config.api_auth == "iam"
        auth: dict[str, Any] = {
            "api_key_required": not iam_auth,
            "authorization_type": apigw.AuthorizationType.IAM if iam_auth else apigw.AuthorizationType.NONE,
        }
        for path, model in (("predict", predict_model), ("feedback", feedback_model)):
            root.add_resource(path).add_method(
                "POST",
                integration,
                request_validator=self._validator,
                request_models={"application/json": model},
                **auth,
            )
        for path in ("health", "model", "openapi.json"):
            root.add_resource(path).add_method("GET", integration, **auth)


def _capture_stream(
    scope: Construct, config: StageConfig, captures: s3.IBucket, model: str
) -> firehose.CfnDeliveryStream:
    """Firehose batches a model's captured predictions into JSON Lines objects under captures/model=<name>/.

    Its records come from the inference log group's subscription filter (gzip-compressed
    CloudWatch Logs batches): Firehose's own processors decompress them, keep only each log
    event's message (the capture line) and end each with a newline, so S3 receives JSON Lines.
    The L1 resource, so the delivery role gets exactly the S3 actions
    Firehose documents for an S3 destination, on the capture prefixes only.
    """
    role = iam.Role(scope, "CaptureStreamRole", assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            resources=[captures.bucket_arn],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            resources=[captures.arn_for_objects("captures/*"), captures.arn_for_objects("capture-errors/*")],
        )
    )
    if captures.encryption_key is not None:
        grant_key(captures.encryption_key, role, write=True)
    for prefix in ("captures", "capture-errors"):
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{_logical_id(captures)}.Arn>/{prefix}/*]",
            "Firehose names each object by delivery time; the grant is limited to the capture prefixes.",
        )
    stream = firehose.CfnDeliveryStream(
        scope,
        "CaptureStream",
        delivery_stream_type="DirectPut",
        delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
            key_type="AWS_OWNED_CMK"
        ),
        extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
            bucket_arn=captures.bucket_arn,
            role_arn=role.role_arn,
            prefix=f"captures/model={model}/",
            error_output_prefix="capture-errors/!{firehose:error-output-type}/",
            buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(interval_in_seconds=60, size_in_m_bs=5),
            compression_format="UNCOMPRESSED",
            processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                enabled=True,
                processors=[
                    _processor("Decompression", CompressionFormat="GZIP"),
                    _processor("CloudWatchLogProcessing", DataMessageExtraction="true"),
                    _processor("AppendDelimiterToRecord"),
                ],
            ),
        ),
    )
    stream.node.add_dependency(role)
    return stream


def _processor(kind: str, **parameters: str) -> firehose.CfnDeliveryStream.ProcessorProperty:
    return firehose.CfnDeliveryStream.ProcessorProperty(
        type=kind,
        parameters=[
            firehose.CfnDeliveryStream.ProcessorParameterProperty(parameter_name=name, parameter_value=value)
            for name, value in parameters.items()
        ]
        or None,
    )


def _capture_subscription(
    scope: Construct, log_group: logs.ILogGroup, stream: firehose.CfnDeliveryStream
) -> logs.CfnSubscriptionFilter:
    """The inference log group's capture lines (and nothing else) -> the capture stream.

    CloudWatch Logs assumes the role to put records; the trust is limited to this account and
    this log group (confused deputy), the policy to this one stream.
    """
    stack = Stack.of(scope)
    group_arn = stack.format_arn(
        service="logs",
        resource="log-group",
        resource_name=log_group.log_group_name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    role = iam.Role(
        scope,
        "CaptureSubscriptionRole",
        description="CloudWatch Logs puts the inference function's capture lines to its capture stream",
        assumed_by=iam.ServicePrincipal(
            "logs.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {"aws:SourceArn": [group_arn, log_group.log_group_arn]},
            },
        ),
    )
    policy = iam.Policy(
        scope,
        "CaptureSubscriptionPolicy",
        statements=[
            iam.PolicyStatement(actions=["firehose:PutRecord", "firehose:PutRecordBatch"], resources=[stream.attr_arn])
        ],
        roles=[role],
    )
    subscription = logs.CfnSubscriptionFilter(
        scope,
        "CaptureSubscription",
        log_group_name=log_group.log_group_name,
        filter_pattern=CAPTURE_FILTER_PATTERN,
        destination_arn=stream.attr_arn,
        role_arn=role.role_arn,
    )
    # CloudWatch Logs test-delivers when the filter is created: the grant must exist first.
    subscription.node.add_dependency(policy)
    return subscription


def _logical_id(bucket: s3.IBucket) -> str:
    resource = bucket.node.default_child
    assert isinstance(resource, CfnResource)
    return Stack.of(bucket).get_logical_id(resource)
