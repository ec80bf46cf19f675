"""The monitor's windows, pure: which time span and which captured predictions a monitor run judges.

Drift looks at the last ``window_minutes`` before the run's scheduled time; live quality looks
further back (``quality_window_minutes``), because ground truth arrives late. Both judge only the
champion's own predictions: captures of other versions (a canary's, a rolled-back one's) in the
window are counted, not mixed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd


@dataclass(frozen=True)
class MonitorWindows:
    drift_start: datetime
    quality_start: datetime
    end: datetime


def monitor_windows(end: datetime, *, window_minutes: int, quality_window_minutes: int) -> MonitorWindows:
    """The drift window and the (never shorter) quality window, both ending at ``end``."""
    return MonitorWindows(
        drift_start=end - timedelta(minutes=window_minutes),
        quality_start=end - timedelta(minutes=max(quality_window_minutes, window_minutes)),
        end=end,
    )


@dataclass(frozen=True)
class WindowRows:
    in_drift_window: pd.DataFrame  # the champion's captures in the drift window
    since_quality_start: pd.DataFrame  # the champion's captures in the quality window
    other_versions: int  # captures of other versions in the drift window


def champion_rows(captures: pd.DataFrame, version: int, windows: MonitorWindows) -> WindowRows:
    """Split the quality window's captures (``timestamp``, ``model_version`` columns) into what each judge sees."""
    if captures.empty:
        return WindowRows(captures, captures, 0)
    mine = captures[captures["model_version"] == version]
    recent = captures["timestamp"] >= windows.drift_start
    return WindowRows(
        in_drift_window=mine[mine["timestamp"] >= windows.drift_start],
        since_quality_start=mine,
        other_versions=int((captures.loc[recent, "model_version"] != version).sum()),
    )
