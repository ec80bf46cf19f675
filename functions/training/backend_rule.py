"""Where a training run's data prep and fit run: Lambda or AWS Batch, from an estimate of the set's size.

The one size rule of the training pipeline. ``EstimateTrainingSet`` (before anything is built) applies it
and puts the answer at ``$.sizing.backend``; every later choice of the state machine reads that value, so a
run builds, validates, splits, searches, fits and evaluates on the backend chosen once:

- with the execution input's ``options.batch_threshold_rows``: Batch when the estimated rows reach it
  (an operator's or a test's override; nothing else is considered);
- else Batch when the estimated peak memory of the build would pass ``MEMORY_HEADROOM`` of the
  Lambda function's memory, or when the estimated rows reach the stage's ``batch_threshold_rows`` (the
  fit's time grows with rows and Lambda stops at 15 minutes);
- else Lambda.

The estimate comes from what is cheap to read before the build: the committed offline files' row counts
(their write manifests) in the run's window, or a table's size and first bytes (CSV) or footer (Parquet).
Memory is modelled, not measured: pandas' bytes per value of each column type, times how many copies a
build holds at once (``INPUT_COPIES`` of what it reads, ``OUTPUT_COPIES`` of the set it writes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from functions.feature_store.definitions import ValueType

LAMBDA, BATCH = "lambda", "batch"
# Share of the function's memory the modelled peak may use; the rest is the interpreter, libraries and error.
MEMORY_HEADROOM = 0.6
# A build holds what it read about twice (read, then joined/typed) and the set about three times
# (joined, validated/typed copy, the Parquet encoding).
INPUT_COPIES = 2
OUTPUT_COPIES = 3
# pandas bytes per value: numbers and times 8, booleans 1; a string is an object pointer plus a Python
# str of a short category or id (~50 bytes).
_VALUE_BYTES = {
    ValueType.FLOAT64: 8,
    ValueType.INT64: 8,
    ValueType.TIMESTAMP: 8,
    ValueType.BOOL: 1,
    ValueType.STRING: 58,
}
# A CSV table in pandas: its text parsed into columns takes about this many bytes per byte of text.
CSV_EXPANSION = 2.0
_MB = 1024 * 1024


def row_bytes(types: Iterable[ValueType]) -> int:
    """Modelled pandas bytes of one row with columns of these types."""
    return sum(_VALUE_BYTES[t] for t in types)


@dataclass(frozen=True)
class SizeEstimate:
    """What a training set's build will read and write, estimated before it runs."""

    source: str
    rows: int  # rows of the training set
    input_rows: int  # rows the build reads (entity rows and every feature view's rows, or the table's)
    input_bytes: int  # modelled in-memory bytes of what it reads
    output_bytes: int  # modelled in-memory bytes of the training set

    @property
    def peak_mb(self) -> float:
        return (INPUT_COPIES * self.input_bytes + OUTPUT_COPIES * self.output_bytes) / _MB

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "peak_mb": round(self.peak_mb, 1)}


@dataclass(frozen=True)
class BackendChoice:
    backend: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_backend(
    estimate: SizeEstimate, *, memory_mb: int, threshold_rows: int, override_rows: int | None = None
) -> BackendChoice:
    """Lambda or Batch for a run whose training set is ``estimate`` (see the module's rule)."""
    rows, peak = estimate.rows, estimate.peak_mb
    if override_rows is not None:
        if isinstance(override_rows, bool) or not isinstance(override_rows, int) or override_rows < 1:
            raise ValueError(f"options.batch_threshold_rows must be a whole number >= 1, got {override_rows!r}")
        if rows >= override_rows:
            return BackendChoice(BATCH, f"~{rows} rows >= options.batch_threshold_rows {override_rows}")
        return BackendChoice(LAMBDA, f"~{rows} rows < options.batch_threshold_rows {override_rows}")
    budget = memory_mb * MEMORY_HEADROOM
    if peak > budget:
        return BackendChoice(
            BATCH, f"~{peak:.0f} MB peak memory > {budget:.0f} MB ({MEMORY_HEADROOM:.0%} of the function's {memory_mb})"
        )
    if rows >= threshold_rows:
        return BackendChoice(BATCH, f"~{rows} rows >= batch_threshold_rows {threshold_rows}")
    within = f"within the function's {memory_mb} MB and {threshold_rows} rows"
    return BackendChoice(LAMBDA, f"~{rows} rows, ~{peak:.0f} MB peak memory: {within}")


def csv_rows(sample: bytes, total_bytes: int) -> int:
    """Data rows of a CSV file (header excluded) from its first bytes: exact when the sample is the whole file."""
    if total_bytes <= 0 or not sample:
        return 0
    if len(sample) >= total_bytes:
        lines = sample.count(b"\n") + (0 if sample.endswith(b"\n") else 1)
        return max(lines - 1, 0)
    header_end = sample.find(b"\n")
    body = sample[header_end + 1 : sample.rfind(b"\n") + 1] if header_end >= 0 else b""
    full_lines = body.count(b"\n")
    if full_lines == 0:
        # One row longer than the sample: at least one row, more cannot be told from here.
        return 1
    return round((total_bytes - header_end - 1) / (len(body) / full_lines))
