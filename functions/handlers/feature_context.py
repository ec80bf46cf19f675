"""Settings and adapters shared by the feature pipeline's handlers, built once per process."""

from __future__ import annotations

from functools import lru_cache

from functions.feature_store.batches import BatchStaging
from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.online_store import OnlineStore
from functions.metadata.metadata_store import MetadataStore
from functions.shared.clients import client
from functions.shared.errors import DataValidationError
from functions.shared.objects import ObjectStore, S3Uri
from functions.shared.settings import (
    BATCH_MARKER,
    RAW_BACKFILL_PREFIX,
    RAW_FEATURE_BATCHES_PREFIX,
    RAW_FEATURES_PREFIX,
    FeatureSettings,
)

SETTINGS = FeatureSettings


@lru_cache(maxsize=1)
def settings() -> FeatureSettings:
    return FeatureSettings.from_env()


def objects() -> ObjectStore:
    return ObjectStore(client("s3"))


def offline() -> OfflineStore:
    return OfflineStore(client("s3"), settings().offline_bucket)


def online() -> OnlineStore:
    return OnlineStore(client("dynamodb"), settings().online_table)


def metadata() -> MetadataStore:
    return MetadataStore(client("dynamodb"), settings().metadata_table)


def staged(run_id: str, name: str) -> S3Uri:
    """Intermediate data of a run, between steps (pointers travel through the state machine, not rows)."""
    return S3Uri(settings().offline_bucket, f"staging/{run_id}/{name}")


def source_name_of(key: str) -> str:
    """``raw/features/<source>/<file>`` or ``raw/backfill/<source>/<file>`` -> ``<source>``."""
    for prefix in (RAW_FEATURES_PREFIX, RAW_BACKFILL_PREFIX):
        if key.startswith(prefix) and key.count("/") >= 3:
            return key.removeprefix(prefix).split("/", 1)[0]
    raise DataValidationError(
        f"raw feature files must be under {RAW_FEATURES_PREFIX}<source>/ or {RAW_BACKFILL_PREFIX}<source>/, got {key!r}"
    )


def batch_staging(run_id: str) -> BatchStaging:
    return BatchStaging(objects(), settings().offline_bucket, run_id)


def batch_folder(event: dict[str, str]) -> tuple[S3Uri, str]:
    """``(s3://bucket/raw/feature-batches/<source>/<batch>/, <source>)`` from a ``source_prefix`` or a marker.

    ``source_prefix`` names the folder (started by hand); ``batch_marker_uri`` names its ``_SUCCESS``
    object (the S3 event of the marker a producer writes last).
    """
    if event.get("batch_marker_uri"):
        marker = S3Uri.parse(event["batch_marker_uri"])
        if not marker.key.endswith(f"/{BATCH_MARKER}"):
            raise DataValidationError(f"a batch marker is named {BATCH_MARKER}, got {marker}")
        folder = S3Uri(marker.bucket, marker.key.removesuffix(BATCH_MARKER))
    else:
        folder = S3Uri.parse(event["source_prefix"])
        if not folder.key.endswith("/"):
            raise DataValidationError(f"source_prefix must name a folder (end with '/'), got {folder}")
    parts = folder.key.removeprefix(RAW_FEATURE_BATCHES_PREFIX).split("/")
    if not folder.key.startswith(RAW_FEATURE_BATCHES_PREFIX) or len(parts) < 3 or not all(parts[:-1]):
        raise DataValidationError(
            f"a partitioned batch is a folder {RAW_FEATURE_BATCHES_PREFIX}<source>/<batch>/, got {folder}"
        )
    return folder, parts[0]
