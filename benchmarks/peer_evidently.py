"""Evidently's side of ``bench_vs_evidently``; runs in ``.venv-bench-evidently`` (no product imports).

    python peer_evidently.py <reference.parquet> <current.parquet> <repeats>

Reads both frames (not timed), then times ``Report([DataDriftPreset()]).run(...)`` and reading its per-column
decisions. Prints one JSON line: {"version", "seconds", "drifted": {column: bool}}.
"""

from __future__ import annotations

import json
import sys
import time

import evidently
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def decisions(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, bool]:
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    found: dict[str, bool] = {}
    counted = None
    for metric in snapshot.dict()["metrics"]:
        if metric.get("config", {}).get("type", "").endswith("DriftedColumnsCount"):
            counted = int(metric["value"]["count"])
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            threshold = config.get("threshold")
            method = str(config.get("method", ""))
            value = float(metric["value"])
            # p-value tests drift below their threshold, distances above it.
            is_test = "p_value" in method or "test" in method.lower()
            found[config["column"]] = value < threshold if is_test else value >= threshold
    if not found:
        raise RuntimeError("Evidently's snapshot has no ValueDrift metrics: " + json.dumps(snapshot.dict())[:500])
    if counted is not None and counted != sum(found.values()):
        raise RuntimeError(
            f"per-column decisions read here ({sum(found.values())}) disagree with Evidently's count ({counted})"
        )
    return found


if __name__ == "__main__":
    reference, current = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
    seconds, drifted = [], {}
    for _ in range(int(sys.argv[3])):
        started = time.perf_counter()
        drifted = decisions(reference, current)
        seconds.append(time.perf_counter() - started)
    print(json.dumps({"version": evidently.__version__, "seconds": seconds, "drifted": drifted}))
