"""Drift on 100k rows x 20 mixed features: time and peak memory, medians over repeats.

Measured in the same run:
- ``build_baseline`` on the 100k-row reference;
- ``detect_drift`` of a 100k-row window against it (reference > 1000 rows:
  normalized Wasserstein / Jensen-Shannon, PSI), and against a 1000-row
  reference (KS / chi-square);
- the baseline: the same per-feature scipy calls with no framework around
  them (``scipy_only``), so the ratio is what the monitor adds.

Run: ``python -m benchmarks.bench_drift`` (or ``make bench``).
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from functions.monitoring.baseline import build_baseline
from functions.monitoring.drift import detect_drift

ROWS = 100_000
NUMERIC, CATEGORICAL = 14, 6
REPEATS = 5


def mixed_frame(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    for i in range(NUMERIC):
        columns[f"num_{i}"] = rng.normal(i + shift * (i % 3 == 0), 1 + i / 10, rows)
    for i in range(CATEGORICAL):
        p = np.array([0.4, 0.3, 0.2, 0.1]) if not shift or i % 2 else np.array([0.1, 0.2, 0.3, 0.4])
        columns[f"cat_{i}"] = rng.choice(["a", "b", "c", "d"], rows, p=p)
    return pd.DataFrame(columns)


def measure(fn: Callable[[], Any]) -> tuple[float, float]:
    """(median seconds over ``REPEATS`` runs, peak MiB allocated by Python in one more traced run).

    Timing runs are untraced: tracemalloc slows allocation-heavy code several-fold.
    """
    seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(seconds), peak


def scipy_only(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    for column in reference.columns:
        if column.startswith("num_"):
            ref = reference[column].to_numpy()
            stats.wasserstein_distance(ref, current[column].to_numpy()) / np.std(ref)
        else:
            p = reference[column].value_counts(normalize=True).sort_index()
            q = current[column].value_counts(normalize=True).reindex(p.index, fill_value=0)
            distance.jensenshannon(p.to_numpy(), q.to_numpy())


def main() -> int:
    rng = np.random.default_rng(0)
    reference, current = mixed_frame(rng, ROWS), mixed_frame(rng, ROWS, shift=0.5)
    names = list(reference.columns)
    labels = list(np.where(reference["num_0"] > 0, "x", "y"))
    current_labels = list(np.where(current["num_0"] > 0, "x", "y"))
    baseline = build_baseline(reference, names, labels, seed=0)
    small = build_baseline(reference.iloc[:1000], names, labels[:1000], seed=0)
    sample = pd.DataFrame({f.name: f.sample for f in baseline.features if f.kind == "numeric"})
    sampled_reference = pd.concat([sample, reference[[n for n in names if n.startswith("cat_")]].iloc[:5000]], axis=1)

    rows = [
        ("build_baseline (100k reference)", measure(lambda: build_baseline(reference, names, labels, seed=0))),
        ("detect_drift, 100k window, distances", measure(lambda: detect_drift(baseline, current, current_labels))),
        ("detect_drift, 100k window, tests (1k ref)", measure(lambda: detect_drift(small, current, current_labels))),
        ("scipy_only, same statistics (baseline)", measure(lambda: scipy_only(sampled_reference, current))),
    ]
    report = detect_drift(baseline, current, current_labels)
    print(
        f"{ROWS} rows x {NUMERIC + CATEGORICAL} features ({NUMERIC} numeric, {CATEGORICAL} categorical), "
        f"median of {REPEATS} (time), one traced run (peak memory)"
    )
    print(f"{'step':45s} {'seconds':>9s} {'peak MiB':>9s}")
    for name, (seconds, peak) in rows:
        print(f"{name:45s} {seconds:9.3f} {peak:9.1f}")
    scipy_seconds = rows[3][1][0]
    print(f"detect_drift / scipy_only time ratio: {rows[1][1][0] / scipy_seconds:.2f}")
    print(
        f"drifted features: {len(report.drifted_features)} of {len(report.features)}; "
        f"dataset drift: {report.dataset_drift}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
