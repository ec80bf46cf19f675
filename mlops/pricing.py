"""Every price the cost model (``mlops cost``) uses, in one place, with its source and date.

On-demand list prices for us-east-1 in USD from the AWS pricing page named by
each entry, recorded on the date given from the published list prices as known
to the author; they were not fetched live. Free tiers are ignored (they end, and
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
_AS_OF = "2026-11-26"

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

ALL: dict[str, Price] = {name: value for name, value in globals().items() if isinstance(value, Price)}
