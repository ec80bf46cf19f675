"""Reading a raw CSV file: a malformed line is quarantined with its line number, the rest of the file is kept."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from functions.feature_store.partitions import valid_source_rows
from functions.feature_store.validation import (
    RAW_LINE,
    REASON,
    ROW_NUMBER,
    SOURCE_LINE,
    enforce_bad_row_fraction,
    read_raw_table,
    validate_rows,
)
from functions.shared.errors import DataValidationError
from tests.projects import SEATTLE_DIR, seattle

SOURCE = seattle().raw_source("seattle_weather")
SHIPPED = (SEATTLE_DIR / "data" / "seattle-weather.csv").read_bytes()


def shipped_lines(count: int) -> list[bytes]:
    """The header and the first ``count - 1`` data lines of the shipped file."""
    return SHIPPED.splitlines()[:count]


def csv(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def validated(lines: list[bytes]):  # type: ignore[no-untyped-def]
    return validate_rows(read_raw_table(csv(lines), "w.csv"), SOURCE.schema, unique_keys=SOURCE.unique_keys)


def by_line(result) -> dict[int, tuple[str, str]]:  # type: ignore[no-untyped-def]
    bad = result.quarantined[result.quarantined[SOURCE_LINE].notna()]
    return {
        int(n): (text, reason) for n, text, reason in zip(bad[SOURCE_LINE], bad[RAW_LINE], bad[REASON], strict=True)
    }


def test_a_line_with_an_extra_field_is_quarantined_with_its_number_and_the_rest_is_kept() -> None:
    # Given 20 data lines, the 5th (line 6 of the file) with a field too many
    lines = shipped_lines(21)
    lines[5] += b",extra"
    # When the file is read and validated
    result = validated(lines)
    # Then that line alone is quarantined, with its line number, its text and the reason
    assert result.counts() == {"rows_in": 20, "rows_valid": 19, "rows_quarantined": 1}
    assert by_line(result) == {6: (lines[5].decode(), "malformed: line 6 has 7 fields where the header has 6")}
    assert result.reasons() == {"malformed": 1}
    # And the other rows are the rows of the file without it, in order
    expected = validate_rows(read_raw_table(csv(lines[:5] + lines[6:]), "w.csv"), SOURCE.schema).valid
    pd.testing.assert_frame_equal(result.valid, expected)


def test_a_line_with_a_missing_field_is_quarantined_not_padded() -> None:
    # Given a line that stops after three of six fields
    lines = shipped_lines(11)
    lines[3] = b"2012-01-03,0.8,11.7"
    result = validated(lines)
    # Then it is quarantined (pandas would have padded it with empty values)
    assert by_line(result) == {4: ("2012-01-03,0.8,11.7", "malformed: line 4 has 3 fields where the header has 6")}
    assert result.rows_valid == 9


def test_an_unterminated_quote_quarantines_every_line_it_swallows_each_with_its_number() -> None:
    # Given a quote opened on line 8 and never closed: the rest of the file is one record to a CSV parser
    lines = shipped_lines(11)
    lines[7] = b'2012-01-07,"0.0,7.2,2.8,2.3,rain'
    result = validated(lines)
    # Then each of the lines 8-11 is a bad row of its own, with its text: none is silently lost
    assert sorted(by_line(result)) == [8, 9, 10, 11]
    assert by_line(result)[9][0] == lines[8].decode()
    assert all("the record from line 8 runs over 4 lines (a quote" in reason for _, reason in by_line(result).values())
    assert result.counts() == {"rows_in": 10, "rows_valid": 6, "rows_quarantined": 4}


def test_line_numbers_count_blank_lines_and_line_breaks_inside_quoted_values() -> None:
    # Given a blank line, and a record whose quoted weather value holds a line break, before a bad line
    lines = shipped_lines(8)
    lines[2] += b"\n"
    lines[3] = b'2012-01-03,0.8,11.7,7.2,2.3,"ra\nin"'
    lines[5] += b",extra"
    result = validated(lines)
    # Then the bad line's number is the one an editor shows (the 5th record starts on line 8)
    assert list(by_line(result)) == [8]
    # And row numbers count records: the record with the line break is one row (quarantined for its value)
    assert dict(zip(result.quarantined[ROW_NUMBER], result.quarantined[REASON].str.split(":").str[0], strict=True)) == {
        2: "category",
        4: "malformed",
    }
    assert valid_source_rows(result).tolist() == [0, 1, 3, 5, 6]


def test_malformed_lines_count_as_bad_rows_under_the_fraction_rule() -> None:
    # Given 2 malformed lines in 20 rows: 10% bad
    lines = shipped_lines(21)
    lines[2] += b",x"
    lines[9] = b"2012-01-09"
    result = validated(lines)
    # Then a 5% limit rejects the file naming the reason, a 10% limit accepts it
    with pytest.raises(DataValidationError, match=r"2 of 20 rows are bad \(10.0% > allowed 5.0%\): malformed=2"):
        enforce_bad_row_fraction(result, 0.05)
    enforce_bad_row_fraction(result, 0.10)


def test_a_well_formed_file_reads_as_text_exactly_as_before() -> None:
    # The shipped file: every value as text, empty values as "" (what pandas' dtype=str read gave)
    table = read_raw_table(SHIPPED, "seattle-weather.csv")
    assert table.malformed.empty
    pd.testing.assert_frame_equal(table.rows, pd.read_csv(io.BytesIO(SHIPPED), dtype=str, keep_default_na=False))
    assert SOURCE_LINE not in validate_rows(table, SOURCE.schema).quarantined.columns


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b" \n", "is empty: a CSV file starts with a header line"),
        (b"date,wind,date\n1,2,3\n", "the header names column 'date' more than once"),
        (b"date,wind\n\xff,1\n", "is not readable CSV: .*invalid UTF8"),
    ],
)
def test_a_file_that_is_not_csv_at_all_is_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(DataValidationError, match=f"raw file 'w.csv'.*{message}"):
        read_raw_table(data, "w.csv")
