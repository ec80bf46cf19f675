"""Row-level validation with quarantine: every bad row is kept, with one reason.

``validate_rows`` never drops a row silently: each input row ends up either
in ``valid`` or in ``quarantined`` (with the first failing check as its
``quarantine_reason``), and ``rows_in == rows_valid + rows_quarantined``
holds by construction and is checked. ``enforce_bad_row_fraction`` turns a
batch with too many bad rows into a ``DataValidationError`` before anything
is written to the stores.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from functions.feature_store.definitions import Field, ValueType
from functions.shared.errors import DataValidationError

REASON = "quarantine_reason"
ROW_NUMBER = "source_row"


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


def read_raw_table(data: bytes, name: str) -> pd.DataFrame:
    """A raw file's rows; CSV is read as text so validation does the typing and bad values reach quarantine."""
    if name.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    if name.endswith(".csv"):
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    raise DataValidationError(f"raw file {name!r}: only .csv and .parquet are read")


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
    frame: pd.DataFrame,
    schema: Sequence[Field],
    *,
    unique_keys: Sequence[str] = (),
) -> ValidationResult:
    """Split ``frame`` into typed valid rows and quarantined rows with one reason each.

    Checks, in order (a row's reason is the first it fails): missing column
    (fails the whole batch: a schema error, not a row error), null, type,
    range, allowed category, duplicate of an earlier row on ``unique_keys``.
    """
    missing = [f.name for f in schema if f.name not in frame.columns]
    if missing:
        raise DataValidationError(f"missing columns: {', '.join(missing)}")
    source = frame.reset_index(drop=True)
    reason = pd.Series(pd.NA, index=source.index, dtype="string")

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
