"""Local IAM: a function's AWS calls are decided against its synthesized role, as AWS decides them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlops.local import LocalCloud, moto_patches
from mlops.local.iam import LocalIam, authorize, caller_credentials
from tests.helpers import run_training, upload_raw

REGION = "us-east-1"
ACCOUNT = "123456789012"


def _without(assembly: Path, target: Path, policy_prefix: str, action: str, on: str) -> Path:
    """A copy of ``assembly`` whose policy ``policy_prefix…`` no longer grants ``action`` on resource ``on…``."""
    shutil.copytree(assembly, target)
    template_path = target / "Mlops-dev.template.json"
    template = json.loads(template_path.read_text())
    removed = 0
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Policy" and logical_id.startswith(policy_prefix):
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if action in actions and f'"{on}' in json.dumps(statement["Resource"]):
                    statement["Action"] = [a for a in actions if a != action]
                    removed += 1
    assert removed == 1, f"{policy_prefix} grants {action} on {on} in {removed} statements"
    template_path.write_text(json.dumps(template))
    return target


def test_a_grant_removed_from_the_template_fails_the_run_on_exactly_that_call(assembly: Path, tmp_path: Path) -> None:
    # Given the synthesized stack with one grant taken away: the run recorder may no longer put metadata items
    broken = _without(
        assembly, tmp_path / "cdk.out", "FunctionsRunRecorderRoleDefaultPolicy", "dynamodb:PutItem", on="MetadataTable"
    )
    with LocalCloud(broken) as cloud:
        source = upload_raw(cloud)
        # When a training run starts
        result = run_training(cloud, source)
        table = cloud.output("MetadataTableName")
        recorder = cloud.function_name("FunctionsRunRecorder")
    # Then it fails on that call, refused as AWS refuses it: the role, the action and the table are named
    assert result.status == "FAILED"
    cause = json.loads(result.cause)
    assert "AccessDenied" in cause["errorMessage"]
    # (the session is named after the function, as Lambda names it)
    assert "assumed-role/Mlops-dev-FunctionsRunRecorderRole" in cause["errorMessage"]
    assert f"/{recorder} is not authorized" in cause["errorMessage"]
    assert f"dynamodb:PutItem on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}" in cause["errorMessage"]


# -- the evaluator, call by call ------------------------------------------------------------------------------------
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": "arn:aws:dynamodb:*:*:table/mine",
        },
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/runs/*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket/*"},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket/locked/*"},
    ],
}


@pytest.fixture(scope="module")
def moto_with_iam() -> Iterator[tuple[LocalIam, str]]:
    with (
        moto_patches.moto_settings(REGION),
        mock_aws(),
        moto_patches.patched({"iam.enforce": authorize, "botocore.caller_credentials": caller_credentials}),
    ):
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(
            RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )
        iam.put_role_policy(RoleName="fn", PolicyName="grants", PolicyDocument=json.dumps(POLICY))
        ddb = boto3.client("dynamodb", region_name=REGION)
        for name in ("mine", "theirs"):
            ddb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        boto3.client("s3", region_name=REGION).create_bucket(Bucket="bucket")
        local = LocalIam(lambda: boto3.client("sts", region_name=REGION))
        try:
            yield local, role["Role"]["Arn"]
        finally:
            local.close()


def _refusal(call: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value)


def test_a_role_may_do_what_its_policy_allows_and_nothing_else(moto_with_iam: tuple[LocalIam, str]) -> None:
    local, role = moto_with_iam
    ddb = boto3.client("dynamodb", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    item = {"pk": {"S": "a"}}
    with local.acting_as(role, "fn-function"):
        # Allowed: its table, its prefixes
        ddb.put_item(TableName="mine", Item=item)
        s3.put_object(Bucket="bucket", Key="runs/r1/out.json", Body=b"{}")
        assert s3.get_object(Bucket="bucket", Key="runs/r1/out.json")["Body"].read() == b"{}"
        # Refused: another table, an action it lacks, another prefix, an explicit deny
        assert f"dynamodb:PutItem on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/theirs" in _refusal(
            lambda: ddb.put_item(TableName="theirs", Item=item)
        )
        assert "dynamodb:DeleteItem" in _refusal(lambda: ddb.delete_item(TableName="mine", Key=item))
        assert "AccessDenied" in _refusal(lambda: s3.get_object(Bucket="bucket", Key="other/x"))
        assert "AccessDenied" in _refusal(lambda: s3.put_object(Bucket="bucket", Key="locked/x", Body=b""))
        # A transaction is decided item by item, as the actions it performs
        transaction = [
            {"Put": {"TableName": "mine", "Item": {"pk": {"S": "t1"}}}},
            {"Put": {"TableName": "theirs", "Item": {"pk": {"S": "t2"}}}},
        ]
        assert "table/theirs" in _refusal(lambda: ddb.transact_write_items(TransactItems=transaction))
    # Outside any invocation the caller is the operator, whom nothing here restricts
    ddb.put_item(TableName="theirs", Item=item)
    assert "Item" not in ddb.get_item(TableName="mine", Key={"pk": {"S": "t1"}}), (
        "the refused transaction wrote nothing"
    )


def test_the_identity_a_function_sees_is_its_role_session(moto_with_iam: tuple[LocalIam, str]) -> None:
    local, role = moto_with_iam
    sts = boto3.client("sts", region_name=REGION)
    with local.acting_as(role, "fn-function"):
        # sts:GetCallerIdentity is always allowed, and answers the assumed role, as in Lambda
        assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/fn/fn-function"
    assert ":assumed-role/" not in sts.get_caller_identity()["Arn"]
