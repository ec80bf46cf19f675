"""One cached boto3 client per service, created on first use (never at import)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@cache
def client(service: str) -> Any:
    """A boto3 client for ``service``, shared by every invocation of this process."""
    return boto3.client(service, config=_CONFIG)
