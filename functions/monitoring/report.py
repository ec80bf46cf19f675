"""The per-run HTML drift report: per-feature reference vs current distributions, test, score, decision.

Plots are inline SVG drawn from numpy histograms, so the report is one
self-contained file and the Lambda image needs no plotting library.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from functions.monitoring.baseline import (
    CategoricalReference,
    DriftBaseline,
    FeatureReference,
    NumericReference,
    frequencies,
)
from functions.monitoring.drift import TESTS, ColumnDrift, DriftReport

_WIDTH, _HEIGHT, _PAD = 420, 160, 24
_REFERENCE_COLOUR, _CURRENT_COLOUR = "#4c78a8", "#f58518"
_HISTOGRAM_BINS = 20


def _bars(labels: Sequence[str], reference: np.ndarray, current: np.ndarray) -> str:
    """Grouped bars (reference, current) of fractions, one group per label."""
    top = max(float(reference.max(initial=0)), float(current.max(initial=0)), 1e-9)
    group = (_WIDTH - 2 * _PAD) / max(len(labels), 1)
    bar = group * 0.4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT + 30}" role="img">']
    for i, label in enumerate(labels):
        x = _PAD + i * group
        for offset, value, colour in ((0.1, reference[i], _REFERENCE_COLOUR), (0.5, current[i], _CURRENT_COLOUR)):
            height = (float(value) / top) * (_HEIGHT - _PAD)
            parts.append(
                f'<rect x="{x + offset * group:.1f}" y="{_HEIGHT - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>{html.escape(label)}: {float(value):.3f}</title></rect>'
            )
        if len(labels) <= 12 or i % max(1, len(labels) // 6) == 0:
            parts.append(
                f'<text x="{x + group / 2:.1f}" y="{_HEIGHT + 14}" font-size="9" text-anchor="middle">'
                f"{html.escape(label[:10])}</text>"
            )
    parts.append(f'<line x1="{_PAD}" y1="{_HEIGHT}" x2="{_WIDTH - _PAD}" y2="{_HEIGHT}" stroke="#333"/></svg>')
    return "".join(parts)


def numeric_histograms(reference: np.ndarray, current: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Fractions of reference and current values over shared equal-width bins."""
    low = float(min(reference.min(initial=np.inf), current.min(initial=np.inf)))
    high = float(max(reference.max(initial=-np.inf), current.max(initial=-np.inf)))
    if not np.isfinite(low) or high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, _HISTOGRAM_BINS + 1)
    ref_counts, _ = np.histogram(reference, bins=edges)
    cur_counts, _ = np.histogram(current, bins=edges)
    labels = [f"{edges[i]:.3g}" for i in range(_HISTOGRAM_BINS)]
    return labels, ref_counts / max(len(reference), 1), cur_counts / max(len(current), 1)


def _plot(column: ColumnDrift, reference: Any, current: pd.Series) -> str:
    if isinstance(reference, NumericReference):
        labels, ref, cur = numeric_histograms(np.asarray(reference.sample), current.dropna().to_numpy(dtype=float))
        return _bars(labels, ref, cur)
    ref_freq: Mapping[str, float] = reference.as_dict()
    cur_freq = dict(frequencies(current.dropna().to_numpy()))
    labels = sorted(set(ref_freq) | set(cur_freq))
    return _bars(
        labels,
        np.array([ref_freq.get(c, 0.0) for c in labels]),
        np.array([cur_freq.get(c, 0.0) for c in labels]),
    )


def _row(column: ColumnDrift, plot: str) -> str:
    rule = "p-value &lt;" if column.method in TESTS else "distance &ge;"
    decision = '<b class="drift">DRIFT</b>' if column.drifted else "no drift"
    return (
        f"<tr><td>{html.escape(column.name)}</td><td>{column.kind}</td><td>{column.method}</td>"
        f"<td>{column.score:.4g}</td><td>{rule} {column.threshold:g}</td><td>{column.psi:.4g}</td>"
        f"<td>{column.current_rows}</td><td>{decision}</td><td>{plot}</td></tr>"
    )


def render_report(
    report: DriftReport,
    baseline: DriftBaseline,
    current: pd.DataFrame,
    predicted_labels: Sequence[Any],
    *,
    title: str,
    facts: Mapping[str, Any],
) -> str:
    """A self-contained HTML page for one monitor run."""
    fact_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items()
    )
    if report.status != "evaluated":
        body = f"<p><b>Skipped:</b> {html.escape(report.reason)}</p>"
    else:
        rows = [_row(c, _plot(c, baseline.feature(c.name), current[c.name])) for c in report.features]
        if report.prediction is not None:
            reference: FeatureReference = (
                baseline.prediction_numeric
                if baseline.prediction_numeric is not None
                else CategoricalReference("prediction", baseline.prediction_distribution)
            )
            rows.append(_row(report.prediction, _plot(report.prediction, reference, pd.Series(list(predicted_labels)))))
        verdict = "DATASET DRIFT" if report.dataset_drift else "no dataset drift"
        body = (
            f"<p><b>{verdict}</b>: {len(report.drifted_features)} of {len(report.features)} features drifted "
            f"(share {report.drift_share:.2f}, threshold {report.policy.drift_share:g}).</p>"
            f'<p><span style="color:{_REFERENCE_COLOUR}">&#9632; reference</span> '
            f'<span style="color:{_CURRENT_COLOUR}">&#9632; current</span></p>'
            "<table><tr><th>column</th><th>kind</th><th>method</th><th>score</th><th>drift when</th>"
            f"<th>PSI</th><th>rows</th><th>decision</th><th>distribution</th></tr>{''.join(rows)}</table>"
        )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;text-align:left}"
        ".drift{color:#c00}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{fact_rows}</table>{body}</body></html>"
    )
