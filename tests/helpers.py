"""Small helpers shared by tests that drive the local cloud."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from functions.shared.objects import S3Uri
from mlops.demo import metadata_of, registry_of, shipped_dataset_csv
from mlops.local import LocalCloud

__all__ = ["metadata_of", "registry_of", "run_training", "upload_raw"]


def upload_raw(cloud: LocalCloud, frame: pd.DataFrame | None = None) -> str:
    """Put a raw CSV where the pipeline reads it; the shipped dataset by default."""
    uri = S3Uri.parse(cloud.output("RawDatasetUri"))
    body = shipped_dataset_csv() if frame is None else frame.to_csv(index=False).encode()
    cloud.client("s3").put_object(Bucket=uri.bucket, Key=uri.key, Body=body)
    return str(uri)


def shipped_frame() -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(shipped_dataset_csv()))


def run_training(cloud: LocalCloud, source_uri: str, **extra: Any) -> Any:
    return cloud.run_state_machine(
        cloud.output("TrainingStateMachineArn"),
        {"source_uri": source_uri, "trigger": {"type": "test"}, **extra},
    )
