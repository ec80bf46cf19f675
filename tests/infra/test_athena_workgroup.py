"""The Athena workgroup training sets are joined in: enforced, encrypted, bounded, and granted narrowly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.shared import settings as env_names

Resources = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def resources(assembly: Path) -> Resources:
    template = json.loads((assembly / "Mlops-dev.template.json").read_text())
    found: Resources = template["Resources"]
    return found


def of_type(resources: Resources, kind: str) -> Resources:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def statements_of(resources: Resources, role_logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_workgroup_enforces_encrypted_results_and_a_bytes_scanned_cutoff(resources: Resources) -> None:
    (workgroup,) = of_type(resources, "AWS::Athena::WorkGroup").values()
    configuration = workgroup["Properties"]["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] >= 10_000_000
    encryption = configuration["ResultConfiguration"]["EncryptionConfiguration"]
    assert encryption["EncryptionOption"] == "SSE_KMS" and "Fn::GetAtt" in encryption["KmsKey"]
    # The results bucket: KMS, TLS only (its policy), results expire
    bucket_id = configuration["ResultConfiguration"]["OutputLocation"]["Fn::Join"][1][1]["Ref"]
    bucket = resources[bucket_id]["Properties"]
    assert (
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    )
    assert any("ExpirationInDays" in rule for rule in bucket["LifecycleConfiguration"]["Rules"])
    (policy,) = [
        p
        for p in of_type(resources, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_the_builders_may_query_only_the_workgroup_and_read_only_the_feature_tables(resources: Resources) -> None:
    functions = of_type(resources, "AWS::Lambda::Function")
    (builder,) = [f for k, f in functions.items() if k.startswith("FunctionsBuildTrainingSet")]
    assert env_names.ATHENA_WORKGROUP in builder["Properties"]["Environment"]["Variables"]
    batch_roles = [
        d["Properties"]["ContainerProperties"]["JobRoleArn"]["Fn::GetAtt"][0]
        for d in of_type(resources, "AWS::Batch::JobDefinition").values()
    ]
    assert batch_roles
    for role in [builder["Properties"]["Role"]["Fn::GetAtt"][0], *batch_roles]:
        statements = statements_of(resources, role)
        athena = [s for s in statements if any(str(a).startswith("athena:") for a in _list(s["Action"]))]
        assert athena and all("workgroup/" in json.dumps(s["Resource"]) for s in athena)
        glue = [s for s in statements if any(str(a).startswith("glue:") for a in _list(s["Action"]))]
        assert glue and all(a in ("glue:GetDatabase", "glue:GetTable", "glue:GetPartitions") for a in glue[0]["Action"])
        assert not any("*" in json.dumps(r) and ":table/" in json.dumps(r) for s in glue for r in _list(s["Resource"]))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
