"""Every price the cost model (``mlops cost``) uses, in one place, with its source and date.

On-demand list prices for us-east-1 in USD from the AWS pricing page named by
each entry, recorded on the date given from the published list prices as known
to the author; they were not fetched live (entries dated 2026-12-01 were added
when the model grew to every billed resource type of the template). Free tiers are ignored (they end, and
a shared account may have used them). Prices change: re-check every entry against
its page before relying on a figure, and update ``as_of`` when you do.
"""

from __future__ import annotations

from dataclasses import dataclass

REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    as_of: str


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_APIGW = "https://aws.amazon.com/api-gateway/pricing/"
_SFN = "https://aws.amazon.com/step-functions/pricing/"
_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_S3 = "https://aws.amazon.com/s3/pricing/"
_KMS = "https://aws.amazon.com/kms/pricing/"
_CW = "https://aws.amazon.com/cloudwatch/pricing/"
_XRAY = "https://aws.amazon.com/xray/pricing/"
_ECR = "https://aws.amazon.com/ecr/pricing/"
_EC2_TRANSFER = "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer"
_SAGEMAKER = "https://aws.amazon.com/sagemaker/pricing/"
_PRIVATELINK = "https://aws.amazon.com/privatelink/pricing/"
_FIREHOSE = "https://aws.amazon.com/firehose/pricing/"
_FARGATE = "https://aws.amazon.com/fargate/pricing/"
_SQS = "https://aws.amazon.com/sqs/pricing/"
_SNS = "https://aws.amazon.com/sns/pricing/"
_EVENTBRIDGE = "https://aws.amazon.com/eventbridge/pricing/"
_GLUE = "https://aws.amazon.com/glue/pricing/"
_SECRETS = "https://aws.amazon.com/secrets-manager/pricing/"
_AS_OF = "2026-11-26"
_ADDED = "2026-12-01"

LAMBDA_GB_SECOND = Price(0.0000166667, "GB-second (x86_64, first 6 billion GB-s tier)", _LAMBDA, _AS_OF)
LAMBDA_REQUEST = Price(0.20 / 1e6, "request", _LAMBDA, _AS_OF)
REST_API_REQUEST = Price(3.50 / 1e6, "REST API request (first 333 million/month)", _APIGW, _AS_OF)
HTTP_API_REQUEST = Price(1.00 / 1e6, "HTTP API request of up to 512 KB (first 300 million/month)", _APIGW, _AS_OF)
SFN_STANDARD_TRANSITION = Price(0.025 / 1000, "Standard workflow state transition", _SFN, _AS_OF)
DDB_WRITE_REQUEST = Price(0.625 / 1e6, "on-demand write request unit", _DDB, _AS_OF)
DDB_READ_REQUEST = Price(0.125 / 1e6, "on-demand read request unit", _DDB, _AS_OF)
DDB_STORAGE_GB_MONTH = Price(0.25, "GB-month of table storage (Standard class)", _DDB, _AS_OF)
DDB_PITR_GB_MONTH = Price(0.20, "GB-month of continuous backup (PITR)", _DDB, _AS_OF)
S3_STANDARD_GB_MONTH = Price(0.023, "GB-month, S3 Standard (first 50 TB)", _S3, _AS_OF)
S3_PUT_REQUEST = Price(0.005 / 1000, "PUT/COPY/POST/LIST request", _S3, _AS_OF)
S3_GET_REQUEST = Price(0.0004 / 1000, "GET/SELECT request", _S3, _AS_OF)
KMS_KEY_MONTH = Price(1.00, "customer-managed key per month (each of the first two rotations adds $1)", _KMS, _AS_OF)
KMS_REQUEST = Price(0.03 / 10000, "symmetric key API request", _KMS, _AS_OF)
LOGS_INGEST_GB = Price(0.50, "GB of CloudWatch Logs ingested (Standard class)", _CW, _AS_OF)
LOGS_STORAGE_GB_MONTH = Price(0.03, "GB-month of CloudWatch Logs archived", _CW, _AS_OF)
ALARM_MONTH = Price(0.10, "standard-resolution alarm metric per month", _CW, _AS_OF)
CUSTOM_METRIC_MONTH = Price(0.30, "custom metric per month (first 10,000)", _CW, _AS_OF)
XRAY_TRACE = Price(5.00 / 1e6, "trace recorded", _XRAY, _AS_OF)
ECR_STORAGE_GB_MONTH = Price(0.10, "GB-month of private repository storage", _ECR, _AS_OF)
DATA_TRANSFER_OUT_GB = Price(0.09, "GB out to the internet (first 10 TB/month)", _EC2_TRANSFER, _AS_OF)
SAGEMAKER_ML_M5_LARGE_HOUR = Price(0.115, "ml.m5.large real-time inference instance-hour", _SAGEMAKER, _AS_OF)
INTERFACE_ENDPOINT_AZ_HOUR = Price(0.01, "interface VPC endpoint per Availability Zone per hour", _PRIVATELINK, _ADDED)
INTERFACE_ENDPOINT_GB = Price(0.01, "GB processed by an interface VPC endpoint (first PB)", _PRIVATELINK, _ADDED)
FIREHOSE_INGEST_GB = Price(
    0.029, "GB ingested, Direct PUT, in 5 KB record increments (first 500 TB)", _FIREHOSE, _ADDED
)
FARGATE_VCPU_HOUR = Price(0.04048, "Fargate Linux/x86 vCPU-hour", _FARGATE, _ADDED)
FARGATE_GB_HOUR = Price(0.004445, "Fargate Linux/x86 GB-hour of memory", _FARGATE, _ADDED)
SQS_REQUEST = Price(0.40 / 1e6, "standard queue request (64 KB chunk)", _SQS, _ADDED)
SNS_PUBLISH = Price(0.50 / 1e6, "standard topic publish (64 KB chunk)", _SNS, _ADDED)
SCHEDULER_INVOCATION = Price(1.00 / 1e6, "EventBridge Scheduler invocation", _EVENTBRIDGE, _ADDED)
CUSTOM_EVENT = Price(1.00 / 1e6, "custom event published to an event bus (64 KB chunk)", _EVENTBRIDGE, _ADDED)
SECRET_MONTH = Price(0.40, "secret per month", _SECRETS, _ADDED)
SECRET_API_CALL = Price(0.05 / 10_000, "Secrets Manager API call", _SECRETS, _ADDED)
GLUE_CATALOG_OBJECT_MONTH = Price(
    1.00 / 100_000, "Data Catalog object (database, table, partition) per month", _GLUE, _ADDED
)
GLUE_CATALOG_REQUEST = Price(1.00 / 1e6, "Data Catalog request", _GLUE, _ADDED)
DASHBOARD_MONTH = Price(3.00, "CloudWatch dashboard per month", _CW, _ADDED)
HIGH_RESOLUTION_ALARM_MONTH = Price(0.30, "high-resolution (under 60 s) alarm metric per month", _CW, _ADDED)
VENDED_LOGS_INGEST_GB = Price(
    0.50, "GB of vended logs (VPC flow logs) delivered to CloudWatch Logs (first 10 TB)", _CW, _ADDED
)

ALL: dict[str, Price] = {name: value for name, value in globals().items() if isinstance(value, Price)}
