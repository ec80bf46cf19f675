"""Safe rollout on the local cloud: promotion -> CodeDeploy canary on alias `live` -> complete or roll back."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from functions.registry.alias_events import announce_alias_move
from functions.registry.alias_lineage import move_alias_with_lineage
from functions.registry.artifact import load_verified_model, serialize_model
from functions.registry.champion import champion_history, resolve_champion
from functions.registry.model_registry import AliasChange, ModelRegistry, ModelVersion
from functions.rollout.canary import smoke_record
from functions.shared.objects import S3Uri
from mlops.local import LocalCloud
from mlops.local.cloud import ACCOUNT
from mlops.local.intrinsics import Resolver
from tests.fixtures.slow_model import SlowModel
from tests.helpers import metadata_of, registry_of, run_training, shipped_frame, upload_raw

MODEL = "seattle-weather"


def promote(cloud: LocalCloud, version: int, *, reason: str = "promoted") -> AliasChange:
    """What `mlops models approve` + `promote` do: approve, move champion (audited, in the lineage), announce it."""
    registry = ModelRegistry(cloud.client("dynamodb"), registry_table(cloud))
    if registry.get(MODEL, version).approval_status != "approved":
        registry.approve(MODEL, version, by="test", reason="reviewed")
    change = move_alias_with_lineage(registry, metadata_of(cloud), MODEL, "champion", version, by="test", reason=reason)
    announce_alias_move(cloud.client("events"), change)
    return change


def rollback(cloud: LocalCloud, why: str) -> AliasChange:
    """What `mlops models rollback` does: move champion back to the version its latest move replaced."""
    (last,) = registry_of(cloud).alias_history(MODEL, "champion")[-1:]
    assert last.from_version is not None
    return promote(cloud, last.from_version, reason=f"rollback: {why}")


def rollout_dead_letters(cloud: LocalCloud) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    (url,) = [u for u in sqs.list_queues()["QueueUrls"] if "RolloutEventsDlq" in u]
    return list(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))


def reapply_template(cloud: LocalCloud) -> None:
    """What the next `cdk deploy` does to the inference function and the canary alarms: apply the synthesized
    template's properties to them again (CloudFormation's update of each resource)."""
    for stack in cloud.stacks:
        physical = cloud.physical[stack.name]
        parameters = {n: spec.get("Default") for n, spec in stack.template.get("Parameters", {}).items()}
        resolver = Resolver(stack.name, ACCOUNT, cloud.region, physical, parameters, cloud.exports)
        for logical_id, spec in stack.resources.items():
            props = spec.get("Properties", {})
            if spec["Type"] == "AWS::Lambda::Function" and logical_id.startswith("FunctionsInference"):
                resolved = resolver.resolve(props, logical_id)
                cloud.client("lambda").update_function_configuration(
                    FunctionName=physical[logical_id].ref, Environment=resolved["Environment"]
                )
            elif spec["Type"] == "AWS::CloudWatch::Alarm" and "ModelRollout" in logical_id:
                resolved = resolver.resolve(props, logical_id)
                kwargs = {k: v for k, v in resolved.items() if k not in ("AlarmName", "Tags")}
                cloud.client("cloudwatch").put_metric_alarm(AlarmName=physical[logical_id].ref, **kwargs)


# What defines a canary alarm (its state and timestamps change as it is evaluated).
DEFINITION = ("AlarmName", "Namespace", "MetricName", "Dimensions", "Statistic", "ExtendedStatistic", "Threshold",
              "ComparisonOperator", "EvaluationPeriods", "DatapointsToAlarm", "AlarmActions")  # fmt: skip


def canary_alarms(cloud: LocalCloud) -> list[dict[str, Any]]:
    alarms = cloud.client("cloudwatch").describe_alarms()["MetricAlarms"]
    canary = sorted((a for a in alarms if "ModelRollout" in a["AlarmName"]), key=lambda a: a["AlarmName"])
    return [{key: alarm.get(key) for key in DEFINITION} for alarm in canary]


def registry_table(cloud: LocalCloud) -> str:
    return cloud.runtime.functions[cloud.function_name("FunctionsDeployer")].environment["MLOPS_REGISTRY_TABLE"]


def register_copy(cloud: LocalCloud, of: ModelVersion, *, model: Any = None, sha256: str | None = None) -> int:
    """Register a new version: the same artifact (a retrain that changed nothing), another model, or a bad hash."""
    artifact_uri, digest = of.artifact_uri, of.artifact_sha256
    if model is not None:
        serialized = serialize_model(model)
        uri = S3Uri.parse(of.artifact_uri)
        key = uri.key.rsplit("/", 1)[0] + "/replacement.joblib"
        cloud.client("s3").put_object(Bucket=uri.bucket, Key=key, Body=serialized.data)
        artifact_uri, digest = f"s3://{uri.bucket}/{key}", serialized.sha256
    registered = registry_of(cloud).register(
        model_name=MODEL,
        artifact_uri=artifact_uri,
        artifact_sha256=sha256 or digest,
        # The evaluated (holdout) metrics and baseline stay those of the good model: the artifact
        # serving now is not what was evaluated, the skew a canary exists to catch.
        metrics=of.metrics,
        params=of.params,
        signature=of.signature,
        training_data_uri=of.training_data_uri,
        training_data_sha256=of.training_data_sha256,
        # Its own run: one run registers one version (the run id is the registry's idempotency key).
        run_id=f"{of.run_id}-copy-{uuid.uuid4().hex[:8]}",
    )
    return registered.version


def live_alias(cloud: LocalCloud) -> dict[str, Any]:
    name = cloud.function_name("FunctionsInference")
    return dict(cloud.client("lambda").get_alias(FunctionName=name, Name="live"))


def pinned_model_version(cloud: LocalCloud, function_version: str) -> str | None:
    config = cloud.client("lambda").get_function_configuration(
        FunctionName=cloud.function_name("FunctionsInference"), Qualifier=function_version
    )
    return config["Environment"]["Variables"].get("MLOPS_MODEL_VERSION")


def deployment(cloud: LocalCloud) -> dict[str, Any]:
    (rollout,) = [r for r in cloud.codedeploy.rollouts.values() if r.state not in ("Succeeded", "Failed", "Stopped")]
    return dict(cloud.client("codedeploy").get_deployment(deploymentId=rollout.deployment_id)["deploymentInfo"])


def holdout_records(version: ModelVersion, count: int = 20) -> list[dict[str, float]]:
    """Real rows from the end of the shipped dataset (the holdout period), as request records."""
    names = [f["name"] for f in version.signature["features"]]
    return [{k: float(v) for k, v in row.items()} for row in shipped_frame()[names].tail(count).to_dict("records")]


def predict(cloud: LocalCloud, records: list[dict[str, float]], times: int) -> list[int]:
    """Send ``times`` requests through the gateway; returns the model versions that answered."""
    versions = []
    for _ in range(times):
        request = urllib.request.Request(
            f"{cloud.gateway.url()}/predict",  # type: ignore[union-attr]
            data=json.dumps({"records": records}).encode(),
            headers={"x-api-key": cloud.gateway.api_key(), "content-type": "application/json"},  # type: ignore[union-attr]
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            versions.append(json.loads(response.read())["model"]["version"])
    return versions


@pytest.fixture
def serving(cloud: LocalCloud) -> tuple[LocalCloud, ModelVersion]:
    """A trained model v1, promoted by the pipeline (dev approves automatically) and fully rolled out."""
    assert run_training(cloud, upload_raw(cloud)).status == "SUCCEEDED"
    v1 = registry_of(cloud).get(MODEL, 1)
    assert registry_of(cloud).alias_version(MODEL, "champion") == 1  # the Promote step announced it
    cloud.codedeploy.step()
    started = deployment(cloud)["startTime"]
    cloud.codedeploy.step(started + timedelta(minutes=6))
    return cloud, v1


def test_promoted_model_takes_ten_percent_then_all_traffic(serving: tuple[LocalCloud, ModelVersion]) -> None:
    """One cloud, the rollout's whole story: a canary; a move during it waits and rolls out after it (no dead
    letter); the template applied again changes nothing; an operator's rollback is immediate, and stops a canary."""
    # Given v1 serving through alias live, and v2 registered
    cloud, v1 = serving
    old_function_version = live_alias(cloud)["FunctionVersion"]
    assert pinned_model_version(cloud, old_function_version) == "1"
    template_alarms = canary_alarms(cloud)
    inference = cloud.function_name("FunctionsInference")
    latest_before = cloud.client("lambda").get_function_configuration(FunctionName=inference)["Environment"]
    v2 = register_copy(cloud, v1)

    # When v2 is promoted and the pre-traffic hook passes
    promote(cloud, v2)
    cloud.codedeploy.step()

    # Then 10% of live goes to a new function version pinned to v2 ...
    alias = live_alias(cloud)
    weights = alias["RoutingConfig"]["AdditionalVersionWeights"]
    ((new_function_version, share),) = weights.items()
    assert alias["FunctionVersion"] == old_function_version and share == pytest.approx(0.1)
    assert pinned_model_version(cloud, new_function_version) == str(v2)
    answered = predict(cloud, holdout_records(v1), times=60)
    assert set(answered) == {1, v2} and answered.count(v2) < answered.count(1)
    # ... watched by copies of the stack's three canary alarms bound to v2's metrics (the stack's own unchanged)
    watching = [a for a in canary_alarms(cloud) if a["AlarmName"].endswith(f"-model-{v2}")]
    assert len(watching) == 3 and all({"Name": "ModelVersion", "Value": str(v2)} in a["Dimensions"] for a in watching)
    assert [a for a in canary_alarms(cloud) if "-model-" not in a["AlarmName"]] == template_alarms

    # When v3 is promoted while v2's canary runs
    v3 = register_copy(cloud, v1)
    v3_move = promote(cloud, v3)
    # Then its rollout is deferred, the reason recorded on its move, and v2's canary goes on (nothing dead-lettered)
    deferred = metadata_of(cloud).node(f"alias_change:{MODEL}:champion:{v3_move.change_id}").attributes
    assert deferred["rollout"] == "deferred" and "is in progress" in deferred["rollout_deferred_reason"]
    assert [r.target_version for r in cloud.codedeploy.rollouts.values() if r.state == "InProgress"] == [
        new_function_version
    ]

    # ... and once the canary interval passes quietly, all of it goes to v2.
    # (driven by the local cloud's clock, as a scheduler would: advance_clock steps CodeDeploy)
    started = deployment(cloud)["startTime"]
    cloud.router.clock = started
    cloud.router.advance_clock(started + timedelta(minutes=5))
    assert [e["detail"]["state"] for e in cloud.codedeploy.events[-1:]] == ["SUCCESS"]
    alias = live_alias(cloud)
    assert alias["FunctionVersion"] == new_function_version and not alias.get("RoutingConfig", {}).get(
        "AdditionalVersionWeights"
    )
    assert set(predict(cloud, [smoke_record(v1.signature)], times=5)) == {v2}
    # and the lineage has the deployment after v2's alias change: smoke test passed, ended, v2 served
    rollout = metadata_of(cloud).node(f"deployment:{cloud.codedeploy.events[-1]['detail']['deploymentId']}")
    assert rollout.attributes["model_version"] == v2 and rollout.attributes["previous_model_version"] == 1
    assert rollout.attributes["smoke_test"] == "passed" and rollout.attributes["status"] == "Succeeded"
    assert rollout.attributes["served_version"] == v2 and rollout.attributes["ended_at"]

    # And the deployer, run on that rollout's end, rolled the deferred v3 out: served == champion, no dead letter
    cloud.codedeploy.step()
    cloud.codedeploy.step(deployment(cloud)["startTime"] + timedelta(minutes=5))
    assert pinned_model_version(cloud, live_alias(cloud)["FunctionVersion"]) == str(v3)
    assert resolve_champion(cloud.client("dynamodb"), registry_table(cloud), MODEL) == v3
    assert set(predict(cloud, [smoke_record(v1.signature)], times=5)) == {v3}
    assert rollout_dead_letters(cloud) == []
    # and the rollouts left the stack's resources as the template has them: $LATEST unpinned, alarms not re-pointed,
    # the per-rollout alarm copies gone
    assert cloud.client("lambda").get_function_configuration(FunctionName=inference)["Environment"] == latest_before
    assert canary_alarms(cloud) == template_alarms

    # When the template is applied again (the next `cdk deploy`)
    served_version = live_alias(cloud)["FunctionVersion"]
    reapply_template(cloud)
    # Then it changes neither what serves nor the alarms
    assert live_alias(cloud)["FunctionVersion"] == served_version
    assert set(predict(cloud, [smoke_record(v1.signature)], times=5)) == {v3}
    assert canary_alarms(cloud) == template_alarms

    # When an operator rolls champion back
    move = rollback(cloud, "v3 misbehaves")
    events = cloud.codedeploy.step()
    # Then live serves v2 wholly at once (the version that served it, reused), without a canary or a smoke test
    assert [e["detail"]["state"] for e in events] == ["START", "SUCCESS"]
    assert live_alias(cloud)["FunctionVersion"] == new_function_version
    assert not live_alias(cloud).get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert set(predict(cloud, [smoke_record(v1.signature)], times=5)) == {v2}
    # and the lineage records that deployment after the rollback's alias change, like any other
    chain = metadata_of(cloud).downstream(f"alias_change:{MODEL}:champion:{move.change_id}")
    [deployed] = [e.target for e in chain.edges if e.relation == "rolled_out_by"]
    assert chain.nodes[deployed].attributes["strategy"] == "immediate"
    assert chain.nodes[deployed].attributes["status"] == "Succeeded"
    assert chain.nodes[deployed].attributes["served_version"] == v2

    # When v3 is promoted again, its canary takes its share, and the operator rolls champion back meanwhile
    promote(cloud, v3, reason="promoted again")
    cloud.codedeploy.step()
    assert live_alias(cloud)["RoutingConfig"]["AdditionalVersionWeights"]
    move = rollback(cloud, "v3 still looks wrong")
    events = cloud.codedeploy.step()
    # Then the canary is stopped at once (not at the end of its interval) and live serves v2 only
    assert [e["detail"]["state"] for e in events] == ["STOP"]
    stopped = cloud.client("codedeploy").get_deployment(deploymentId=events[0]["detail"]["deploymentId"])
    assert stopped["deploymentInfo"]["errorInformation"]["code"] == "MANUAL_STOP"
    assert live_alias(cloud)["FunctionVersion"] == new_function_version
    assert not live_alias(cloud).get("RoutingConfig", {}).get("AdditionalVersionWeights")
    # And champion is the operator's v2, not moved again by the outcome recorder; the lineage links the two
    history = champion_history(cloud.client("dynamodb"), registry_table(cloud), MODEL)
    assert (history[-1].version, history[-1].reason) == (v2, "rollback: v3 still looks wrong")
    chain = metadata_of(cloud).downstream(f"alias_change:{MODEL}:champion:{move.change_id}")
    [halted] = [chain.nodes[e.target].attributes for e in chain.edges if e.relation == "stopped"]
    assert (halted["status"], halted["served_version"]) == ("Stopped", v2)
    assert rollout_dead_letters(cloud) == []


def test_prediction_shift_during_canary_rolls_back_and_moves_champion_back(
    serving: tuple[LocalCloud, ModelVersion],
) -> None:
    # Given v1 serving, and v2: an artifact that predicts the rarest holdout label for everything
    cloud, v1 = serving
    old_function_version = live_alias(cloud)["FunctionVersion"]
    rarest = min(v1.signature["labels"], key=lambda label: v1.metrics.get(f"predicted_share.{label}", 0.0))
    features = np.zeros((len(v1.signature["labels"]), len(v1.signature["features"])))
    bad = DummyClassifier(strategy="constant", constant=rarest).fit(features, v1.signature["labels"])
    v2 = register_copy(cloud, v1, model=bad)

    # When v2 is promoted and canary traffic reaches it
    promote(cloud, v2)
    cloud.codedeploy.step()
    assert v2 in predict(cloud, holdout_records(v1), times=60)
    events = cloud.codedeploy.step(deployment(cloud)["startTime"] + timedelta(minutes=5))

    # Then the prediction-shift alarm stops the deployment and live serves v1 only again
    assert [e["detail"]["state"] for e in events] == ["STOP"]
    info = cloud.client("codedeploy").get_deployment(deploymentId=events[0]["detail"]["deploymentId"])
    assert info["deploymentInfo"]["status"] == "Stopped"
    assert "PredictionShiftAlarm" in info["deploymentInfo"]["errorInformation"]["message"]
    alias = live_alias(cloud)
    assert alias["FunctionVersion"] == old_function_version
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert set(predict(cloud, [smoke_record(v1.signature)], times=10)) == {1}
    # And the registry's champion is v1 again, with the rollback and its alarm in the history
    table = registry_table(cloud)
    assert resolve_champion(cloud.client("dynamodb"), table, MODEL) == 1
    last = champion_history(cloud.client("dynamodb"), table, MODEL)[-1]
    assert last.version == 1 and last.previous_version == v2
    assert last.reason.startswith("canary rollback: ") and "PredictionShiftAlarm" in last.reason
    # And the lineage records the deployment, how it ended, the version left serving, and the automatic rollback
    chain = metadata_of(cloud).downstream(f"deployment:{events[0]['detail']['deploymentId']}")
    rollout = chain.nodes[chain.root]
    assert (rollout.attributes["status"], rollout.attributes["served_version"]) == ("Stopped", 1)
    assert "PredictionShiftAlarm" in rollout.attributes["cause"]
    [rollback] = [e.target for e in chain.edges if e.source == rollout.id and e.relation == "rolled_back_by"]
    moved_back = chain.nodes[rollback].attributes
    assert moved_back["to_version"] == 1 and ":assumed-role/" in moved_back["by"]


def test_latency_regression_during_canary_rolls_back(serving: tuple[LocalCloud, ModelVersion]) -> None:
    # Given v1 serving, and v2: v1's own model, 1.2 s slower per request (p99 limit: 1 s)
    cloud, v1 = serving
    old_function_version = live_alias(cloud)["FunctionVersion"]
    uri = S3Uri.parse(v1.artifact_uri)
    model = load_verified_model(
        cloud.client("s3").get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read(), v1.artifact_sha256
    )
    v2 = register_copy(cloud, v1, model=SlowModel(model, delay_s=1.2))

    # When v2 is promoted and takes its canary share of 40 requests
    promote(cloud, v2)
    cloud.codedeploy.step()
    assert v2 in predict(cloud, holdout_records(v1), times=40)
    events = cloud.codedeploy.step(deployment(cloud)["startTime"] + timedelta(minutes=5))

    # Then the latency alarm, and only it, stops the rollout; live and champion are back on v1
    assert [e["detail"]["state"] for e in events] == ["STOP"]
    info = cloud.client("codedeploy").get_deployment(deploymentId=events[0]["detail"]["deploymentId"])
    message = info["deploymentInfo"]["errorInformation"]["message"]
    assert "LatencyAlarm" in message and "PredictionShiftAlarm" not in message and "ErrorRate" not in message
    assert live_alias(cloud)["FunctionVersion"] == old_function_version
    history = champion_history(cloud.client("dynamodb"), registry_table(cloud), MODEL)
    assert history[-1].version == 1 and "LatencyAlarm" in history[-1].reason


def test_a_failing_hook_fails_a_rollout_before_traffic_shifts_and_a_cdk_deploy_s_own_deployment_passes_it(
    serving: tuple[LocalCloud, ModelVersion],
) -> None:
    # Given v1 serving, and v2 whose artifact does not match its recorded sha256 (it cannot load)
    cloud, v1 = serving
    before = live_alias(cloud)
    v2 = register_copy(cloud, v1, sha256="0" * 64)

    # When v2 is promoted
    promote(cloud, v2)
    events = cloud.codedeploy.step()

    # Then the smoke test fails the deployment, live never routed a request to v2, champion is v1 again
    assert [e["detail"]["state"] for e in events] == ["START", "FAILURE"]
    info = cloud.client("codedeploy").get_deployment(deploymentId=events[0]["detail"]["deploymentId"])
    assert info["deploymentInfo"]["errorInformation"]["code"] == "HOOK_EXECUTION_FAILURE"
    assert live_alias(cloud)["FunctionVersion"] == before["FunctionVersion"]
    assert not live_alias(cloud).get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert resolve_champion(cloud.client("dynamodb"), registry_table(cloud), MODEL) == 1
    assert champion_history(cloud.client("dynamodb"), registry_table(cloud), MODEL)[-1].reason.startswith(
        "canary rollback: HOOK_EXECUTION_FAILURE"
    )

    # And when a `cdk deploy` then changes the serving code: CloudFormation publishes the function's new version
    # (unpinned: it serves the champion) and starts its own deployment, with no rollout context (its AppSpec only)
    inference = cloud.function_name("FunctionsInference")
    lambda_client, codedeploy = cloud.client("lambda"), cloud.client("codedeploy")
    variables = lambda_client.get_function_configuration(FunctionName=inference)["Environment"]["Variables"]
    lambda_client.update_function_configuration(
        FunctionName=inference, Environment={"Variables": {**variables, "CODE_CHANGE": "1"}}
    )
    new_version = lambda_client.publish_version(FunctionName=inference)["Version"]
    (application,) = codedeploy.list_applications()["applications"]
    (group,) = codedeploy.list_deployment_groups(applicationName=application)["deploymentGroups"]
    shift = {"Name": inference, "Alias": "live", "CurrentVersion": before["FunctionVersion"]}
    appspec = {
        "version": 0.0,
        "Resources": [
            {"InferenceAlias": {"Type": "AWS::Lambda::Function", "Properties": {**shift, "TargetVersion": new_version}}}
        ],
        "Hooks": [{"BeforeAllowTraffic": cloud.function_name("FunctionsPreTrafficHook")}],
    }
    code_deployment = codedeploy.create_deployment(
        applicationName=application, deploymentGroupName=group,
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(appspec)}},
    )["deploymentId"]  # fmt: skip
    events = cloud.codedeploy.step()
    started = codedeploy.get_deployment(deploymentId=code_deployment)["deploymentInfo"]["startTime"]
    events += cloud.codedeploy.step(started + timedelta(minutes=6))
    # Then the new code is smoke-tested against the champion and serves it; the registry moves nothing, the
    # lineage records the code deployment, and nothing reached a dead-letter queue
    assert [e["detail"]["state"] for e in events] == ["START", "SUCCESS"], events
    assert live_alias(cloud)["FunctionVersion"] == new_version
    assert resolve_champion(cloud.client("dynamodb"), registry_table(cloud), MODEL) == 1
    node = metadata_of(cloud).node(f"deployment:{code_deployment}")
    assert node.attributes["smoke_test"] == "passed", node
    assert (node.attributes["strategy"], node.attributes["status"]) == ("code", "Succeeded")
    assert rollout_dead_letters(cloud) == []
