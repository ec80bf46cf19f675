"""Drift on 20 mixed features at several row counts: time and peak memory, medians over repeats.

Sizes: BENCH_DRIFT_ROWS=30000,100000,300000 and BENCH_DRIFT_REPEATS=3,3,1 (shared with bench_vs_evidently).
Measured in the same run, at each size N:
- ``build_baseline`` on the N-row reference;
- ``detect_drift`` of an N-row window against it (reference > 1000 rows:
  normalized Wasserstein / Jensen-Shannon, PSI), and against a 1000-row
  reference (KS / chi-square);
- the baseline: the same per-feature scipy calls with no framework around
  them (``scipy_only``), so the ratio is what the monitor adds.

Run: ``python -m benchmarks.bench_drift`` (or ``make bench``).
"""

from __future__ import annotations

import os
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from benchmarks.common import summary
from benchmarks.results import growth, row, write_comparison
from functions.monitoring.baseline import NumericReference, build_baseline
from functions.monitoring.drift import detect_drift

ROWS = [int(n) for n in os.environ.get("BENCH_DRIFT_ROWS", "30000,100000,300000").split(",")]
_REPEATS = [int(n) for n in os.environ.get("BENCH_DRIFT_REPEATS", "3,3,1").split(",")]
REPEATS = _REPEATS * len(ROWS) if len(_REPEATS) == 1 else _REPEATS
NUMERIC, CATEGORICAL = 14, 6
COMMAND = "make bench (python -m benchmarks.bench_drift)"


def mixed_frame(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    for i in range(NUMERIC):
        columns[f"num_{i}"] = rng.normal(i + shift * (i % 3 == 0), 1 + i / 10, rows)
    for i in range(CATEGORICAL):
        p = np.array([0.4, 0.3, 0.2, 0.1]) if not shift or i % 2 else np.array([0.1, 0.2, 0.3, 0.4])
        columns[f"cat_{i}"] = rng.choice(["a", "b", "c", "d"], rows, p=p)
    return pd.DataFrame(columns)


def measure(fn: Callable[[], Any], repeats: int) -> tuple[list[float], float]:
    """(seconds of ``repeats`` runs, peak MiB allocated by Python in one more traced run).

    Timing runs are untraced: tracemalloc slows allocation-heavy code several-fold.
    """
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def scipy_only(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    for column in reference.columns:
        if column.startswith("num_"):
            ref = reference[column].to_numpy()
            stats.wasserstein_distance(ref, current[column].to_numpy()) / np.std(ref)
        else:
            p = reference[column].value_counts(normalize=True).sort_index()
            q = current[column].value_counts(normalize=True).reindex(p.index, fill_value=0)
            distance.jensenshannon(p.to_numpy(), q.to_numpy())


STEPS = {
    "build": "build_baseline (reference of N rows)",
    "distances": "detect_drift, N-row window, distances",
    "tests": "detect_drift, N-row window, tests (1k ref)",
    "scipy": "scipy_only, same statistics (floor)",
}


def measure_size(rows: int, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    reference, current = mixed_frame(rng, rows), mixed_frame(rng, rows, shift=0.5)
    names = list(reference.columns)
    labels = list(np.where(reference["num_0"] > 0, "x", "y"))
    current_labels = list(np.where(current["num_0"] > 0, "x", "y"))
    baseline = build_baseline(reference, names, labels, seed=0)
    small = build_baseline(reference.iloc[:1000], names, labels[:1000], seed=0)
    sample = pd.DataFrame({f.name: f.sample for f in baseline.features if isinstance(f, NumericReference)})
    categorical = reference[[n for n in names if n.startswith("cat_")]].iloc[: len(sample)]
    sampled_reference = pd.concat([sample, categorical.reset_index(drop=True)], axis=1)
    measured = {
        "build": measure(lambda: build_baseline(reference, names, labels, seed=0), repeats),
        "distances": measure(lambda: detect_drift(baseline, current, current_labels), repeats),
        "tests": measure(lambda: detect_drift(small, current, current_labels), repeats),
        "scipy": measure(lambda: scipy_only(sampled_reference, current), repeats),
    }
    report = detect_drift(baseline, current, current_labels)
    print(f"{rows:,} rows x {NUMERIC + CATEGORICAL} features, {repeats} repeats (time), one traced run (peak memory)")
    for key, (seconds, peak) in measured.items():
        print(f"  {STEPS[key]:45s} {statistics.median(seconds):9.3f} s {peak:9.1f} MiB")
    print(f"  drifted features: {len(report.drifted_features)} of {len(report.features)}")
    return {"rows": rows, "measured": measured, "drifted": len(report.drifted_features)}


def main() -> int:
    # The monitor's steps are cheap: at least 3 repeats at every size, whatever Evidently gets.
    sizes = [measure_size(rows, max(repeats, 3)) for rows, repeats in zip(ROWS, REPEATS, strict=True)]

    def points(key: str, floor: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "size": f"{m['rows']:,}",
                "x": m["rows"],
                "ours": summary(m["measured"][key][0]),
                "peers": {STEPS[floor]: summary(m["measured"][floor][0])} if floor else {},
                "check": f"{m['measured'][key][1]:.1f} MiB",
            }
            for m in sizes
        ]

    largest = sizes[-1]
    write_comparison(
        "drift_internals",
        title="Drift internals (vs bare scipy)",
        command=COMMAND,
        peer="no peer: the same per-feature scipy calls with no framework around them (floor)",
        sizes={
            "rows": ",".join(map(str, ROWS)),
            "features": NUMERIC + CATEGORICAL,
            "repeats": ",".join(str(max(r, 3)) for r in REPEATS),
        },
        rows=[
            row(f"{STEPS[key]}, N={largest['rows']:,}", largest["measured"][key][0], None,
                peer_missing="no peer: our own time (the floor is in the growth table)")
            for key in STEPS
        ],
        notes=[
            "The monitor's own steps at each window size, in the benchmark's process: build_baseline on the "
            "reference, detect_drift of a window of the same size against it (reference > 1000 rows: normalized "
            "Wasserstein / Jensen-Shannon, PSI) and against a 1000-row reference (KS / chi-square), next to "
            "scipy_only, the same per-feature scipy statistics on the same 5k-row reference sample with nothing "
            "around them; ratio = floor / ours, so below 1 is what the monitor adds.",
            "Peak memory: Python allocations in one more run under tracemalloc (not timed).",
        ],
        growth=[
            growth("detect_drift (distances) vs scipy_only", "rows per window", points("distances", "scipy"),
                   check_name="peak memory"),
            growth("detect_drift (tests, 1k reference)", "rows per window", points("tests"), check_name="peak memory"),
            growth("build_baseline", "reference rows", points("build"), check_name="peak memory"),
        ],
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
