"""Batch inference under manual approval: the champion scores, not a newer pending version.

A module of its own: a LocalCloud of the prod stage cannot run beside test_batch_inference's module cloud (one
cloud patches moto at a time in a process).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.shared.objects import S3Uri
from mlops.local import LocalCloud
from mlops.operator import Backend, decide, promote
from tests.conftest import shared_synth
from tests.helpers import run_training, shipped_frame, upload_raw
from tests.projects import SEATTLE_DIR
from tests.stepfunctions.test_batch_inference import FEATURES, MODEL, put_parquet, read_json, read_outputs


@pytest.fixture
def prod_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """The demo project's prod stage (approval policy manual), from the session's shared assemblies."""
    with LocalCloud(shared_synth(tmp_path_factory, "seattle", stage="prod", project=SEATTLE_DIR)) as running:
        yield running


def test_batch_inference_under_manual_approval_scores_the_champion_not_a_newer_pending_version(
    prod_cloud: LocalCloud,
) -> None:
    cloud = prod_cloud
    backend = Backend.from_cloud(cloud)
    # Given v1, left pending by the pipeline, approved and promoted by an operator
    first = run_training(cloud, upload_raw(cloud))
    assert first.status == "SUCCEEDED" and first.output["promotion"]["promoted"] is False, first.cause
    decide(backend, MODEL, 1, approve=True, reason="reviewed holdout metrics")
    promote(backend, MODEL, 1, alias="champion", reason="approved release")
    # And a newer v2 registered since (another run), still pending review
    v1 = backend.registry.get(MODEL, 1)
    fields = ("artifact_uri", "artifact_sha256", "metrics", "params", "signature", "training_data_uri",
              "training_data_sha256", "onnx_uri", "onnx_sha256")  # fmt: skip
    newer = backend.registry.register(model_name=MODEL, run_id="a-later-run", **{f: getattr(v1, f) for f in fields})
    assert (newer.version, newer.approval_status) == (2, "pending")
    assert backend.registry.latest(MODEL).version == 2  # what batch inference used to score
    # When a batch runs
    bucket = S3Uri.parse(cloud.output("RawDatasetUri")).bucket
    frame = shipped_frame()[["date", *FEATURES]]
    put_parquet(cloud, bucket, "batch-input/review/part.parquet", frame.iloc[:50])
    result = cloud.run_state_machine(
        cloud.output("BatchInferenceStateMachineArn"), {"input_uri": f"s3://{bucket}/batch-input/review/"}
    )
    # Then every row is scored by the champion, v1, and the manifest says so
    assert result.status == "SUCCEEDED", result.cause
    manifest = read_json(cloud, result.output["manifest_uri"])
    assert (manifest["model_name"], manifest["version"], manifest["rows"]) == (MODEL, 1, 50)
    assert set(read_outputs(cloud, manifest)["model_version"]) == {1}
