"""Settings and adapters shared by the training pipeline's handlers, built once per process."""

from __future__ import annotations

from functools import lru_cache

from functions.adapters.clients import client
from functions.adapters.metadata import MetadataStore
from functions.adapters.objects import ObjectStore, S3Uri
from functions.adapters.registry import ModelRegistry
from functions.settings import PipelineSettings

SETTINGS = PipelineSettings


@lru_cache(maxsize=1)
def settings() -> PipelineSettings:
    return PipelineSettings.from_env()


def objects() -> ObjectStore:
    return ObjectStore(client("s3"))


def metadata() -> MetadataStore:
    return MetadataStore(client("dynamodb"), settings().metadata_table)


def registry() -> ModelRegistry:
    return ModelRegistry(client("dynamodb"), settings().registry_table)


def run_artifact(run_id: str, name: str) -> S3Uri:
    """Where a run keeps its intermediate artifacts (pointers travel, not payloads)."""
    return S3Uri(settings().artifact_bucket, f"runs/{run_id}/{name}")
