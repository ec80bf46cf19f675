"""Row-level validation with quarantine: every bad row is kept, with one reason.

``validate_rows`` never drops a row silently: each input row ends up either
in ``valid`` or in ``quarantined`` (with the first failing check as its
``quarantine_reason``), and ``rows_in == rows_valid + rows_quarantined``
holds by construction and is checked. ``enforce_bad_row_fraction`` turns a
batch with too many bad rows into a ``DataValidationError`` before anything
is written to the stores.

A raw CSV file is read by ``read_raw_table``: a line that cannot be split into the
header's fields (a field too many or too few, a quote never closed) does not reject
the file; it becomes a row of the table, without values, that ``validate_rows``
quarantines first, with its line number, its text and why. Such lines count as bad
rows of the file under the same bad-row fraction.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from functions.feature_store.definitions import Field, ValueType
from functions.shared.errors import DataValidationError

REASON = "quarantine_reason"
ROW_NUMBER = "source_row"
# Quarantine columns of a malformed line (present only when a file had one).
SOURCE_LINE = "source_line"
RAW_LINE = "raw_line"


@dataclass(frozen=True)
class ValidationResult:
    valid: pd.DataFrame
    quarantined: pd.DataFrame
    rows_in: int

    @property
    def rows_valid(self) -> int:
        return len(self.valid)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantined)

    @property
    def bad_row_fraction(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    def counts(self) -> dict[str, int]:
        return {"rows_in": self.rows_in, "rows_valid": self.rows_valid, "rows_quarantined": self.rows_quarantined}

    def reasons(self) -> dict[str, int]:
        """How many rows each reason quarantined (the reason's check, without the row's value)."""
        if self.quarantined.empty:
            return {}
        kinds = self.quarantined[REASON].str.split(":", n=1).str[0]
        return {str(k): int(v) for k, v in kinds.value_counts().sort_index().items()}


@dataclass(frozen=True)
class RawTable:
    """A raw file's rows as text, and its lines that could not be split into the header's fields.

    ``rows`` holds every record in file order; a malformed line is a row of nulls at its
    place, so row numbers (``source_row``) follow the file. ``malformed`` has one row per
    such line: its row number, its line number in the file (1 = the header), its text and
    the reason.
    """

    rows: pd.DataFrame
    malformed: pd.DataFrame


def read_raw_table(data: bytes, name: str) -> RawTable:
    """A raw file's rows; CSV is read as text so validation does the typing and bad values reach quarantine."""
    if name.endswith(".parquet"):
        return RawTable(pd.read_parquet(io.BytesIO(data)), _no_malformed_lines())
    if name.endswith(".csv"):
        return _read_csv(data, name)
    raise DataValidationError(f"raw file {name!r}: only .csv and .parquet are read")


def _no_malformed_lines() -> pd.DataFrame:
    return pd.DataFrame(
        {
            ROW_NUMBER: pd.Series(dtype="int64"),
            SOURCE_LINE: pd.Series(dtype="Int64"),
            RAW_LINE: pd.Series(dtype="string"),
            REASON: pd.Series(dtype="string"),
        }
    )


def _read_csv(data: bytes, name: str) -> RawTable:
    """Every well-formed record of a CSV file as text; each malformed one set aside with where it is and why.

    pyarrow's CSV reader hands each record whose field count differs from the header's to
    ``invalid_row_handler`` with its record number, and keeps the others. Records are read
    on one thread: only then does pyarrow number them, and on Lambda's fraction of a vCPU
    (1 GB of memory) more threads would not help.
    """
    if not data.strip():
        raise DataValidationError(f"raw file {name!r} is empty: a CSV file starts with a header line")
    header = data.split(b"\n", 1)[0] + b"\n"
    try:
        names = pa_csv.read_csv(io.BytesIO(header)).column_names
        invalid: list[pa_csv.InvalidRow] = []

        def set_aside(row: pa_csv.InvalidRow) -> str:
            invalid.append(row)
            return "skip"

        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(use_threads=False),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=set_aside),
            # Every column as text, an empty field as "" (pandas' dtype=str, keep_default_na=False).
            convert_options=pa_csv.ConvertOptions(
                column_types={column: pa.string() for column in names}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise DataValidationError(f"raw file {name!r} is not readable CSV: {_arrow_reason(exc)}") from exc
    repeated = sorted({column for column in names if names.count(column) > 1})
    if repeated:
        raise DataValidationError(f"raw file {name!r}: the header names column {repeated[0]!r} more than once")
    if not invalid:
        return RawTable(table.to_pandas(), _no_malformed_lines())
    return _with_malformed_lines(table, _malformed_lines(data, invalid))


def _arrow_reason(exc: pa.ArrowInvalid) -> str:
    return str(exc).strip().splitlines()[0]


@dataclass(frozen=True)
class _MalformedRecord:
    record: int  # 0-based among the file's records (header excluded), as pyarrow counts them
    line: int | None  # 1-based line of the file where the record starts; None if its text was not found
    text: str
    fields: int


def _malformed_lines(data: bytes, invalid: Sequence[pa_csv.InvalidRow]) -> list[_MalformedRecord]:
    """Where each malformed record starts in the file: its text searched forward from the previous one's.

    pyarrow numbers records (blank lines and a value's line breaks do not count), not lines:
    the text found at the start of a line gives the line a person sees in an editor.
    """
    found: list[_MalformedRecord] = []
    cursor, line_at_cursor = 0, 1
    for row in invalid:
        needle = row.text.encode()
        offset = data.find(needle, cursor)
        while offset > 0 and data[offset - 1 : offset] != b"\n":
            offset = data.find(needle, offset + 1)
        line = None
        if offset >= 0:
            line = line_at_cursor + data.count(b"\n", cursor, offset)
            cursor, line_at_cursor = offset + len(needle), line + needle.count(b"\n")
        if row.number is None:
            raise AssertionError("pyarrow did not number a malformed CSV record (read on one thread, it does)")
        found.append(_MalformedRecord(row.number - 2, line, row.text, row.actual_columns))
    return found


def _with_malformed_lines(good: pa.Table, records: Sequence[_MalformedRecord]) -> RawTable:
    """``good`` with a row of nulls in place of each line of each malformed record, and those lines' details.

    A record with a quote never closed runs over the following lines (often to the end of the
    file): each of its lines is a bad row of its own, so a broken quote cannot hide the rows it
    swallowed from the bad-row fraction. The rows are placed by one Arrow ``take`` whose null
    indices make the rows of nulls.
    """
    expected = good.num_columns
    rows, lines, texts, reasons = [], [], [], []
    shift = 0  # extra rows of the multi-line records before the current one
    for record in records:
        texts_of_record = record.text.splitlines() or [record.text]
        span = len(texts_of_record)
        reason = _malformed_reason(record, expected, span)
        first_row = record.record + shift
        for i, text in enumerate(texts_of_record):
            rows.append(first_row + i)
            lines.append(record.line + i if record.line is not None else pd.NA)
            texts.append(text)
            reasons.append(reason)
        shift += span - 1
    malformed_at = np.zeros(good.num_rows + len(rows), dtype=bool)
    malformed_at[rows] = True
    indices = np.zeros(len(malformed_at), dtype="int64")
    indices[~malformed_at] = np.arange(good.num_rows)
    frame = good.take(pa.array(indices, mask=malformed_at)).to_pandas()
    malformed = pd.DataFrame(
        {
            ROW_NUMBER: pd.Series(rows, dtype="int64"),
            SOURCE_LINE: pd.Series(lines, dtype="Int64"),
            RAW_LINE: pd.Series(texts, dtype="string"),
            REASON: pd.Series(reasons, dtype="string"),
        }
    )
    return RawTable(frame, malformed)


def _malformed_reason(record: _MalformedRecord, expected: int, span: int) -> str:
    where = f"line {record.line}" if record.line is not None else f"record {record.record + 1}"
    if span > 1:
        return (
            f"malformed: the record from {where} runs over {span} lines (a quote opened there is not closed, "
            f"or a value holds line breaks) and has {record.fields} fields where the header has {expected}"
        )
    return f"malformed: {where} has {record.fields} fields where the header has {expected}"


def _typed(values: pd.Series, dtype: ValueType) -> pd.Series:
    """``values`` converted to ``dtype``; unparseable entries become NA."""
    if dtype is ValueType.TIMESTAMP:
        return pd.to_datetime(values, utc=True, errors="coerce", format="mixed").astype("datetime64[ns, UTC]")
    if dtype is ValueType.FLOAT64:
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if dtype is ValueType.INT64:
        numbers = pd.to_numeric(values, errors="coerce")
        whole = numbers.isna() | (numbers == np.floor(numbers))
        return numbers.where(whole).astype("Int64")
    if dtype is ValueType.BOOL:
        text = values.astype("string").str.strip().str.lower()
        mapped = text.map({"true": True, "false": False, "1": True, "0": False})
        return mapped.astype("boolean")
    return values.astype("string")


def validate_rows(
    frame: pd.DataFrame | RawTable,
    schema: Sequence[Field],
    *,
    unique_keys: Sequence[str] = (),
) -> ValidationResult:
    """Split ``frame`` into typed valid rows and quarantined rows with one reason each.

    Checks, in order (a row's reason is the first it fails): missing column
    (fails the whole batch: a schema error, not a row error), malformed line
    (a ``RawTable``'s lines that had no fields to check), null, type, range,
    allowed category, duplicate of an earlier row on ``unique_keys``.
    """
    raw = frame if isinstance(frame, RawTable) else RawTable(frame, _no_malformed_lines())
    missing = [f.name for f in schema if f.name not in raw.rows.columns]
    if missing:
        raise DataValidationError(f"missing columns: {', '.join(missing)}")
    source = raw.rows.reset_index(drop=True)
    reason = pd.Series(pd.NA, index=source.index, dtype="string")
    malformed = raw.malformed.set_index(ROW_NUMBER)
    if not malformed.empty:
        reason.loc[malformed.index] = malformed[REASON]

    def flag(mask: pd.Series | np.ndarray, text: str, shown: pd.Series | None = None) -> None:
        """Give rows in ``mask`` without a reason yet ``text`` (+ ``: <their value>`` when ``shown``)."""
        fresh = np.asarray(mask, dtype=bool) & reason.isna().to_numpy()
        if not fresh.any():
            return
        # Messages are built for flagged rows only: most rows are good.
        reason.loc[fresh] = text if shown is None else text + ": " + shown[fresh].astype(str)

    typed = pd.DataFrame(index=source.index)
    for spec in schema:
        raw = source[spec.name]
        raw_null = raw.isna() | (raw.astype("string").str.strip() == "")
        values = _typed(raw.where(~raw_null), spec.dtype)
        typed[spec.name] = values
        if not spec.nullable:
            flag(raw_null, f"null: {spec.name} is required")
        flag(~raw_null & values.isna(), f"type: {spec.name} is not {spec.dtype.value}", raw)
        if spec.minimum is not None or spec.maximum is not None:
            numbers = values.astype("float64")
            low = numbers < spec.minimum if spec.minimum is not None else pd.Series(False, index=source.index)
            high = numbers > spec.maximum if spec.maximum is not None else pd.Series(False, index=source.index)
            flag(
                (low | high).fillna(False) | (~np.isfinite(numbers.fillna(0.0))),
                f"range: {spec.name} outside [{spec.minimum}, {spec.maximum}]",
                numbers,
            )
        if spec.allowed is not None:
            flag(
                values.notna() & ~values.isin(spec.allowed),
                f"category: {spec.name} not in {list(spec.allowed)}",
                values,
            )
    if unique_keys:
        # Only rows that passed every other check compete for a key: a broken
        # row must not make the good row with the same key look like the duplicate.
        candidates = reason.isna()
        duplicated = typed[candidates].duplicated(subset=list(unique_keys), keep="first")
        mask = pd.Series(False, index=source.index)
        mask.loc[duplicated.index] = duplicated
        flag(mask, f"duplicate: same {', '.join(unique_keys)} as an earlier row")

    bad = reason.notna().to_numpy()
    valid = typed[~bad].reset_index(drop=True)
    quarantined = source[bad].copy()
    quarantined.insert(0, ROW_NUMBER, source.index[bad])
    if not malformed.empty:
        quarantined.insert(1, SOURCE_LINE, malformed[SOURCE_LINE].reindex(quarantined.index))
        quarantined.insert(2, RAW_LINE, malformed[RAW_LINE].reindex(quarantined.index))
    quarantined[REASON] = reason[bad].astype(str)
    result = ValidationResult(valid=valid, quarantined=quarantined.reset_index(drop=True), rows_in=len(source))
    if result.rows_valid + result.rows_quarantined != result.rows_in:
        raise AssertionError("validation lost rows: counts do not reconcile")
    return result


def enforce_bad_row_fraction(result: ValidationResult, max_fraction: float) -> None:
    """Raise ``DataValidationError`` when more than ``max_fraction`` of the rows are bad."""
    check_bad_row_fraction(result.rows_in, result.rows_quarantined, result.reasons(), max_fraction)


def check_bad_row_fraction(rows_in: int, rows_quarantined: int, reasons: dict[str, int], max_fraction: float) -> None:
    """The same rule on counts (a partitioned batch enforces it on the counts summed over its partitions)."""
    if rows_in == 0:
        raise DataValidationError("the input has no rows")
    fraction = rows_quarantined / rows_in
    if fraction > max_fraction:
        top = ", ".join(f"{kind}={n}" for kind, n in sorted(reasons.items()))
        raise DataValidationError(
            f"{rows_quarantined} of {rows_in} rows are bad ({fraction:.1%} > allowed {max_fraction:.1%}): {top}"
        )
