"""The monitor's windows: drift over the last window, quality further back, only the champion's captures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from functions.monitoring.windows import champion_rows, monitor_windows

END = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_quality_looks_further_back_than_drift_and_never_less() -> None:
    windows = monitor_windows(END, window_minutes=60, quality_window_minutes=1440)
    assert (END - windows.drift_start, END - windows.quality_start) == (timedelta(hours=1), timedelta(days=1))
    shorter = monitor_windows(END, window_minutes=60, quality_window_minutes=30)
    assert shorter.quality_start == shorter.drift_start


def test_only_the_champions_captures_are_judged_and_the_others_are_counted() -> None:
    windows = monitor_windows(END, window_minutes=60, quality_window_minutes=1440)
    captures = pd.DataFrame(
        {
            "timestamp": [END - timedelta(minutes=m) for m in (5, 10, 30, 300, 20)],
            "model_version": [2, 2, 3, 2, 3],
        }
    )
    rows = champion_rows(captures, 2, windows)
    assert len(rows.in_drift_window) == 2  # v2 in the last hour
    assert len(rows.since_quality_start) == 3  # v2 in the last day, for live quality
    assert rows.other_versions == 2  # v3's captures in the last hour (a canary's)


def test_no_captures_judge_nothing() -> None:
    empty = pd.DataFrame(columns=["timestamp", "model_version"])
    rows = champion_rows(empty, 1, monitor_windows(END, window_minutes=60, quality_window_minutes=60))
    assert rows.in_drift_window.empty and rows.other_versions == 0
