"""Provisioners of the resources moto serves as they are: S3, DynamoDB, SQS, SNS, KMS, Step Functions.

Each turns a resource's CloudFormation properties into the service's create calls, on moto, and
returns what ``Ref`` and ``Fn::GetAtt`` answer. Nothing here emulates behaviour: how moto serves these
services is how the local cloud serves them (Step Functions runs its definitions on moto's interpreter;
``map_runs`` and ``execution_events`` fill its gaps).
"""

from __future__ import annotations

import json
import re
import secrets
from functools import partial
from typing import Any

from mlops.local.assembly import AssemblyError
from mlops.local.intrinsics import PhysicalResource
from mlops.local.provisioning import Provisioners, ProvisioningContext


def provisioners(context: ProvisioningContext) -> Provisioners:
    return {
        "AWS::S3::Bucket": partial(_s3_bucket, context),
        "AWS::DynamoDB::Table": partial(_dynamodb_table, context),
        "AWS::StepFunctions::StateMachine": partial(_state_machine, context),
        "AWS::SQS::Queue": partial(_sqs_queue, context),
        "AWS::SNS::Topic": partial(_sns_topic, context),
        "AWS::SNS::Subscription": partial(_sns_subscription, context),
        "AWS::KMS::Key": partial(_kms_key, context),
        "AWS::KMS::Alias": partial(_kms_alias, context),
        "AWS::SecretsManager::Secret": partial(_secret, context),
    }


def _s3_bucket(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    s3 = context.client("s3")
    name = props.get("BucketName") or context.name(stack, logical_id, 63, lower=True)
    if context.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": context.region})
    if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if "BucketEncryption" in props:
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
                "Rules": [
                    {
                        ("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                        for k, v in rule.items()
                    }
                    for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                ]
            },
        )
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration") is not None:
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    return PhysicalResource(
        name,
        {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{context.region}.amazonaws.com",
        },
    )


def _dynamodb_table(
    context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    ddb = context.client("dynamodb")
    name = props.get("TableName") or context.name(stack, logical_id, 255)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    sse = props.get("SSESpecification", {})
    if sse.get("SSEEnabled"):
        kwargs["SSESpecification"] = {
            "Enabled": True,
            **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
            **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
        }
    description = ddb.create_table(**kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
    pitr = props.get("PointInTimeRecoverySpecification", {})
    if pitr.get("PointInTimeRecoveryEnabled"):
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return PhysicalResource(name, {"Arn": description["TableArn"], "StreamArn": description.get("LatestStreamArn", "")})


def _state_machine(
    context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    definition = props.get("DefinitionString")
    if definition is None:
        definition = json.dumps(props["Definition"])
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    leftover = sorted(set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition)))
    if leftover:
        raise AssemblyError(f"{stack}/{logical_id}: placeholders with no substitution: {', '.join(leftover)}")
    name = props.get("StateMachineName") or context.name(stack, logical_id, 80)
    arn = context.client("stepfunctions").create_state_machine(
        name=name, definition=definition, roleArn=props["RoleArn"], type=props.get("StateMachineType", "STANDARD")
    )["stateMachineArn"]
    return PhysicalResource(arn, {"Arn": arn, "Name": name})


def _sqs_queue(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    sqs = context.client("sqs")
    name = props.get("QueueName") or context.name(stack, logical_id, 80)
    attributes = {
        key: json.dumps(value) if isinstance(value, dict) else str(value)
        for key, value in props.items()
        if key
        in (
            "DelaySeconds",
            "MessageRetentionPeriod",
            "VisibilityTimeout",
            "RedrivePolicy",
            "FifoQueue",
            "ReceiveMessageWaitTimeSeconds",
            "MaximumMessageSize",
            "KmsMasterKeyId",
        )
    }
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = f"arn:aws:sqs:{context.region}:{context.account}:{name}"
    return PhysicalResource(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def _sns_topic(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    name = props.get("TopicName") or context.name(stack, logical_id, 256)
    attributes = {"KmsMasterKeyId": props["KmsMasterKeyId"]} if "KmsMasterKeyId" in props else {}
    arn = context.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
    return PhysicalResource(arn, {"TopicArn": arn, "TopicName": name})


def _sns_subscription(
    context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]
) -> PhysicalResource:
    arn = context.client("sns").subscribe(
        TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
    )["SubscriptionArn"]
    return PhysicalResource(arn)


def _kms_key(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    kms = context.client("kms")
    key = kms.create_key(Description=props.get("Description", logical_id))["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    return PhysicalResource(key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})


def _kms_alias(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    context.client("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return PhysicalResource(props["AliasName"])


def _secret(context: ProvisioningContext, stack: str, logical_id: str, props: dict[str, Any]) -> PhysicalResource:
    """A secret; a ``GenerateSecretString`` value is drawn locally (random, per cloud), as Secrets Manager does."""
    value = props.get("SecretString")
    if value is None:
        generate = props.get("GenerateSecretString", {})
        value = secrets.token_hex(int(generate.get("PasswordLength", 32)) // 2)
    created = context.client("secretsmanager").create_secret(
        Name=props.get("Name") or context.name(stack, logical_id, 256),
        SecretString=value,
        **({"KmsKeyId": props["KmsKeyId"]} if props.get("KmsKeyId") else {}),
        **({"Description": props["Description"]} if props.get("Description") else {}),
    )
    return PhysicalResource(created["ARN"], {"Id": created["ARN"]})
