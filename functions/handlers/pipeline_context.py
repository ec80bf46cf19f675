"""Settings and adapters shared by the training pipeline's handlers, built once per process."""

from __future__ import annotations

from functools import lru_cache

from functions.metadata.metadata_store import MetadataStore
from functions.registry.model_registry import ModelRegistry
from functions.shared.clients import client
from functions.shared.objects import ObjectStore, S3Uri
from functions.shared.settings import PipelineSettings

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


def run_folder(run_id: str) -> S3Uri:
    """Where a run keeps its intermediate artifacts (pointers travel, not payloads)."""
    return S3Uri(settings().artifact_bucket, f"runs/{run_id}")


def run_artifact(run_id: str, name: str) -> S3Uri:
    folder = run_folder(run_id)
    return S3Uri(folder.bucket, f"{folder.key}/{name}")
