"""Which engine joins a training set: the one rule (pure).

pandas in the building function while the feature rows the join can read (the committed files' row
counts, from their manifests) stay under the threshold; Athena from the threshold on. No Athena
configured (no workgroup in the function's environment): always pandas.
"""

from __future__ import annotations

from enum import StrEnum


class JoinEngine(StrEnum):
    PANDAS = "pandas"
    ATHENA = "athena"


def join_engine(feature_rows: int, threshold_rows: int | None) -> JoinEngine:
    """The engine for a join over ``feature_rows`` rows; ``threshold_rows`` None means no Athena."""
    if threshold_rows is None or feature_rows < threshold_rows:
        return JoinEngine.PANDAS
    return JoinEngine.ATHENA
