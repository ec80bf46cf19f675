"""The training pipeline's size rule (Lambda or Batch) and the estimate it is applied to."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pytest

from functions.feature_store.definitions import ValueType
from functions.shared.errors import DataValidationError, InvalidRequestError
from functions.shared.objects import S3Uri
from functions.training.backend_rule import (
    BATCH,
    LAMBDA,
    MEMORY_HEADROOM,
    SizeEstimate,
    choose_backend,
    csv_rows,
    row_bytes,
)
from functions.training.search_budget import MAX_SEARCH_ROUNDS, check_search_rounds, search_rounds
from functions.training.steps import _estimate_table

MB = 1024 * 1024


def _estimate(rows: int, *, input_mb: float = 0.0, output_mb: float = 0.0) -> SizeEstimate:
    return SizeEstimate("table", rows, rows, int(input_mb * MB), int(output_mb * MB))


def test_memory_decides_even_below_the_row_threshold() -> None:
    # Peak = 2 x input + 3 x output: 2 x 300 + 3 x 200 = 1,200 MB, within 60 % of 2,048 MB (1,228.8)
    small = _estimate(1_000, input_mb=300, output_mb=200)
    assert small.peak_mb == 1200
    assert choose_backend(small, memory_mb=2048, threshold_rows=200_000).backend == LAMBDA
    # Wider rows: the same row count no longer fits the function
    wide = _estimate(1_000, input_mb=400, output_mb=200)
    choice = choose_backend(wide, memory_mb=2048, threshold_rows=200_000)
    assert choice.backend == BATCH and "1400 MB peak memory > 1229 MB" in choice.reason
    # The same set fits a bigger function
    assert choose_backend(wide, memory_mb=4096, threshold_rows=200_000).backend == LAMBDA
    assert MEMORY_HEADROOM == 0.6


def test_rows_at_the_stage_threshold_go_to_batch_and_the_override_alone_decides() -> None:
    assert choose_backend(_estimate(200_000), memory_mb=2048, threshold_rows=200_000).backend == BATCH
    assert choose_backend(_estimate(199_999), memory_mb=2048, threshold_rows=200_000).backend == LAMBDA
    # options.batch_threshold_rows: only rows count, in both directions
    huge = _estimate(1_000, input_mb=10_000)
    assert choose_backend(huge, memory_mb=2048, threshold_rows=200_000, override_rows=5_000).backend == LAMBDA
    forced = choose_backend(_estimate(100), memory_mb=2048, threshold_rows=200_000, override_rows=100)
    assert (forced.backend, forced.reason) == (BATCH, "~100 rows >= options.batch_threshold_rows 100")
    for bad in (0, -1, "100", True):
        with pytest.raises(ValueError, match=r"options\.batch_threshold_rows must be a whole number"):
            choose_backend(_estimate(100), memory_mb=2048, threshold_rows=10, override_rows=bad)  # type: ignore[arg-type]


def test_csv_rows_exact_for_a_whole_file_and_estimated_from_a_sample() -> None:
    text = b"a,b\n" + b"".join(b"%d,xyz\n" % i for i in range(1000))
    assert csv_rows(text, len(text)) == 1000
    assert csv_rows(text.rstrip(b"\n"), len(text) - 1) == 1000  # no final newline
    estimated = csv_rows(text[:2000], len(text))
    assert abs(estimated - 1000) <= 60
    assert csv_rows(b"", 0) == 0 and csv_rows(b"a,b\n", 4) == 0
    assert row_bytes([ValueType.FLOAT64, ValueType.STRING, ValueType.BOOL]) == 8 + 58 + 1


class _S3:
    """head_object and ranged get_object over one in-memory object, counting the bytes read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.read = data, 0

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"ContentLength": len(self.data)}

    def get_object(self, Bucket: str, Key: str, Range: str) -> dict[str, Any]:
        first, last = (int(x) for x in Range.removeprefix("bytes=").split("-"))
        part = self.data[first : last + 1]
        self.read += len(part)
        return {"Body": io.BytesIO(part)}


def test_a_table_is_sized_from_its_first_bytes_or_its_footer_never_read_whole() -> None:
    frame = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=20_000, freq="h"), "x": 1.5, "label": "sun"})
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    parquet = _S3(buffer.getvalue())
    estimate = _estimate_table(parquet, S3Uri("b", "raw/t.parquet"), set_width=8 + 8 + 58)
    assert (estimate.rows, estimate.output_bytes) == (20_000, 20_000 * 74)
    assert parquet.read < len(parquet.data) / 10
    csv = _S3(frame.to_csv(index=False).encode())
    estimate = _estimate_table(csv, S3Uri("b", "raw/t.csv"), set_width=74)
    assert abs(estimate.rows - 20_000) < 200 and csv.read == 256 * 1024 < len(csv.data)
    with pytest.raises(DataValidationError, match="is not a Parquet file"):
        _estimate_table(_S3(b"not parquet at all"), S3Uri("b", "raw/t.parquet"), set_width=1)


def test_a_search_the_pipeline_timeout_does_not_cover_is_refused_naming_what_to_change() -> None:
    assert (search_rounds(8, 4), search_rounds(3, 10), search_rounds(0, 4)) == (2, 1, 0)
    check_search_rounds("m", MAX_SEARCH_ROUNDS * 4, 4)
    with pytest.raises(InvalidRequestError, match=r"11 trials at max_concurrency 2 take 6 rounds; .* covers 5"):
        check_search_rounds("m", 11, 2)
