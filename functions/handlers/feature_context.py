"""Settings and adapters shared by the feature pipeline's handlers, built once per process."""

from __future__ import annotations

from functools import lru_cache

from functions.adapters.clients import client
from functions.adapters.metadata import MetadataStore
from functions.adapters.objects import ObjectStore, S3Uri
from functions.adapters.offline_store import OfflineStore
from functions.adapters.online_store import OnlineStore
from functions.core.errors import DataValidationError
from functions.settings import RAW_BACKFILL_PREFIX, RAW_FEATURES_PREFIX, FeatureSettings

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
