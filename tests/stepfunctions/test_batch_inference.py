"""Batch inference: a Distributed Map over Parquet partitions, on the local cloud."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from functions.shared.objects import S3Uri
from mlops.local import LocalCloud
from mlops.operator import Backend, decide, promote
from tests.conftest import shared_synth
from tests.helpers import run_training, shipped_frame, upload_raw
from tests.projects import SEATTLE_DIR

MODEL = "seattle-weather"


def put_parquet(cloud: LocalCloud, bucket: str, key: str, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())


def test_batch_inference_predicts_every_partition_with_one_model_version(cloud: LocalCloud) -> None:
    # Given a registered model and three Hive-style partitions, one with an invalid row
    assert run_training(cloud, upload_raw(cloud)).status == "SUCCEEDED"
    bucket = S3Uri.parse(cloud.output("RawDatasetUri")).bucket
    frame = shipped_frame()[["date", "precipitation", "temp_max", "temp_min", "wind"]]
    parts = {f"batch-input/day/event_date=2015-0{i}/part.parquet": frame.iloc[i * 40 : (i + 1) * 40] for i in (1, 2, 3)}
    broken = parts["batch-input/day/event_date=2015-02/part.parquet"].copy()
    broken.loc[broken.index[0], "wind"] = np.nan
    parts["batch-input/day/event_date=2015-02/part.parquet"] = broken
    for key, part in parts.items():
        put_parquet(cloud, bucket, key, part)
    # When the batch runs over the prefix
    result = cloud.run_state_machine(
        cloud.output("BatchInferenceStateMachineArn"), {"input_uri": f"s3://{bucket}/batch-input/day/"}
    )
    # Then every input row comes out, predicted by version 1, the invalid one kept and explained
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["rows"] == 120
    assert result.output["partitions"] == 3
    s3 = cloud.client("s3")
    manifest_uri = S3Uri.parse(result.output["manifest_uri"])
    manifest = json.loads(s3.get_object(Bucket=manifest_uri.bucket, Key=manifest_uri.key)["Body"].read())
    outputs = []
    for partition in manifest["partitions"]:
        uri = S3Uri.parse(partition["output_uri"])
        assert uri.key.endswith(partition["key"].removeprefix("batch-input/day/"))
        outputs.append(pd.read_parquet(io.BytesIO(s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read())))
    combined = pd.concat(outputs)
    assert len(combined) == 120
    assert set(combined["model_version"]) == {1}
    invalid = combined[combined["status"] == "INVALID"]
    assert len(invalid) == 1
    assert "wind" in invalid["reason"].iloc[0]
    assert combined.loc[combined["status"] == "OK", "prediction"].isin(["drizzle", "fog", "rain", "snow", "sun"]).all()


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
    frame = shipped_frame()[["date", "precipitation", "temp_max", "temp_min", "wind"]]
    put_parquet(cloud, bucket, "batch-input/review/part.parquet", frame.iloc[:50])
    result = cloud.run_state_machine(
        cloud.output("BatchInferenceStateMachineArn"), {"input_uri": f"s3://{bucket}/batch-input/review/"}
    )
    # Then every row is scored by the champion, v1, and the manifest says so
    assert result.status == "SUCCEEDED", result.cause
    s3 = cloud.client("s3")
    manifest_uri = S3Uri.parse(result.output["manifest_uri"])
    manifest = json.loads(s3.get_object(Bucket=manifest_uri.bucket, Key=manifest_uri.key)["Body"].read())
    assert (manifest["model_name"], manifest["version"], manifest["rows"]) == (MODEL, 1, 50)
    [partition] = manifest["partitions"]
    uri = S3Uri.parse(partition["output_uri"])
    scored = pd.read_parquet(io.BytesIO(s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()))
    assert set(scored["model_version"]) == {1}
