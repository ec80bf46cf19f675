"""S3 objects: bytes and Parquet tables addressed by ``s3://`` URIs."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from functions.shared.aws_errors import storage_error
from functions.shared.errors import StorageError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not uri.startswith("s3://") or "/" not in uri[5:]:
            raise StorageError(f"not an s3://bucket/key URI: {uri!r}")
        bucket, key = uri[5:].split("/", 1)
        if not bucket or not key:
            raise StorageError(f"not an s3://bucket/key URI: {uri!r}")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class ObjectStore:
    """Reads and writes objects in S3 through an injected client."""

    def __init__(self, s3_client: Any) -> None:
        self._s3 = s3_client

    def put_bytes(self, uri: S3Uri, data: bytes, *, content_type: str = "application/octet-stream") -> S3Uri:
        try:
            self._s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=data, ContentType=content_type)
        except ClientError as exc:
            raise storage_error(exc, f"writing {uri}") from exc
        return uri

    def get_bytes(self, uri: S3Uri) -> bytes:
        try:
            body: bytes = self._s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        except ClientError as exc:
            raise storage_error(exc, f"reading {uri}") from exc
        return body

    def put_parquet(self, uri: S3Uri, frame: pd.DataFrame) -> bytes:
        """Write ``frame`` as Parquet; returns the bytes written (for hashing)."""
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False, engine="pyarrow")
        data = buffer.getvalue()
        self.put_bytes(uri, data, content_type="application/vnd.apache.parquet")
        return data

    def get_parquet(
        self, uri: S3Uri, *, columns: Sequence[str] | None = None, filters: list[tuple[str, str, Any]] | None = None
    ) -> pd.DataFrame:
        """A Parquet object's rows; only ``columns`` and rows passing ``filters`` (pyarrow DNF) are decoded."""
        import pandas as pd  # here, not at import: the inference function never reads tables

        return pd.read_parquet(
            io.BytesIO(self.get_bytes(uri)),
            engine="pyarrow",
            columns=list(columns) if columns else None,
            filters=filters,
        )

    def keys(self, bucket: str, prefix: str) -> Iterator[str]:
        """Object keys under ``prefix``, in key order."""
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    yield entry["Key"]
        except ClientError as exc:
            raise storage_error(exc, f"listing s3://{bucket}/{prefix}") from exc

    def get_csv(self, uri: S3Uri) -> pd.DataFrame:
        import pandas as pd

        return pd.read_csv(io.BytesIO(self.get_bytes(uri)))
