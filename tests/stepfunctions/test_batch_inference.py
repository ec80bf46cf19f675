"""Batch inference: a Distributed Map over Parquet partitions, on the local cloud."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from functions.shared.objects import S3Uri
from mlops.local import LocalCloud
from tests.helpers import run_training, shipped_frame, upload_raw


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
