"""The per-run HTML drift report: a summary, then every column's drift with its distributions, then live quality.

Laid out as Evidently's data drift report is (the dataset verdict and the drifted share first, a table
of columns with test, score and decision, drifted first, each opening onto its distributions), plus
the window, the row counts and the live quality of the run. Plots are inline SVG drawn from numpy
histograms with labelled axes, so the report is one self-contained file (nothing fetched) and the
Lambda image needs no plotting library.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
from functions.monitoring.drift import (
    CHI_SQUARE,
    EVALUATED,
    JENSEN_SHANNON,
    KS,
    TESTS,
    WASSERSTEIN,
    ColumnDrift,
    DriftReport,
)
from functions.monitoring.quality import LiveQuality

_REFERENCE_COLOUR, _CURRENT_COLOUR = "#4c78a8", "#f58518"
_HISTOGRAM_BINS = 20
# Plot geometry: the plotting area sits inside margins that hold the axes' ticks and titles.
_WIDTH, _HEIGHT = 640, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 16, 64
_MAX_CATEGORY_LABELS = 24

_METHOD_NAMES = {
    KS: "Kolmogorov-Smirnov test",
    CHI_SQUARE: "chi-square test",
    WASSERSTEIN: "Wasserstein distance (normed)",
    JENSEN_SHANNON: "Jensen-Shannon distance",
}
_METRIC_NAMES = {"accuracy": "accuracy", "f1_macro": "macro F1", "mae": "MAE", "rmse": "RMSE"}


@dataclass(frozen=True)
class Distribution:
    """What one chart shows: labelled bins with reference and current fractions."""

    labels: tuple[str, ...]
    reference: np.ndarray
    current: np.ndarray
    edges: np.ndarray | None = None  # numeric: the bins' edges (len(labels) + 1); categorical: None


def numeric_histograms(reference: np.ndarray, current: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Fractions of reference and current values over shared equal-width bins (labels: each bin's left edge)."""
    edges = _shared_edges(reference, current)
    ref_counts, _ = np.histogram(reference, bins=edges)
    cur_counts, _ = np.histogram(current, bins=edges)
    labels = [f"{edges[i]:.3g}" for i in range(_HISTOGRAM_BINS)]
    return labels, ref_counts / max(len(reference), 1), cur_counts / max(len(current), 1)


def _shared_edges(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    low = float(min(reference.min(initial=np.inf), current.min(initial=np.inf)))
    high = float(max(reference.max(initial=-np.inf), current.max(initial=-np.inf)))
    if not np.isfinite(low):
        low = 0.0
    if not np.isfinite(high) or high <= low:
        high = low + 1.0
    return np.linspace(low, high, _HISTOGRAM_BINS + 1)


def distribution(reference: FeatureReference, current: pd.Series) -> Distribution:
    """Reference (the baseline's sample or frequencies) and current fractions over shared bins or categories."""
    if isinstance(reference, NumericReference):
        ref, cur = np.asarray(reference.sample, dtype=float), current.dropna().to_numpy(dtype=float)
        labels, ref_fractions, cur_fractions = numeric_histograms(ref, cur)
        return Distribution(tuple(labels), ref_fractions, cur_fractions, _shared_edges(ref, cur))
    ref_freq: Mapping[str, float] = reference.as_dict()
    cur_freq = dict(frequencies(current.dropna().to_numpy()))
    categories = sorted(set(ref_freq) | set(cur_freq), key=lambda c: (-max(ref_freq.get(c, 0), cur_freq.get(c, 0)), c))
    return Distribution(
        tuple(categories),
        np.array([ref_freq.get(c, 0.0) for c in categories]),
        np.array([cur_freq.get(c, 0.0) for c in categories]),
    )


def _number(value: float) -> str:
    return f"{value:.4g}"


def _ticks(top: float) -> list[float]:
    """Up to five round y-axis ticks from 0 to at least ``top``."""
    raw = top / 4
    magnitude = 10 ** np.floor(np.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(int(np.ceil(top / step - 1e-9)) + 1)]


def chart(column: str, shown: Distribution, *, kind: str) -> str:
    """Grouped bars (reference, current) of the share of rows per bin or category, with both axes labelled."""
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    ticks = _ticks(max(float(shown.reference.max(initial=0)), float(shown.current.max(initial=0)), 0.01))
    top = ticks[-1]
    count = max(len(shown.labels), 1)
    group = plot_w / count
    bar = group * 0.42
    x_title = f"{column} (value, {len(shown.labels)} equal-width bins)" if kind == "numeric" else f"{column} (category)"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" '
        f'height="{_HEIGHT}" role="img" aria-label="{html.escape(column)}: share of rows, reference vs current">'
    ]
    precision = ".1%" if len(ticks) > 1 and ticks[1] < 0.01 else ".0%"
    for tick in ticks:
        y = _TOP + plot_h - tick / top * plot_h
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{_LEFT - 6}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{tick:{precision}}</text>'
        )
    for i, label in enumerate(shown.labels):
        x = _LEFT + i * group
        for offset, value, colour, name in (
            (0.08, shown.reference[i], _REFERENCE_COLOUR, "reference"),
            (0.5, shown.current[i], _CURRENT_COLOUR, "current"),
        ):
            height = float(value) / top * plot_h
            where = f"{_number(shown.edges[i])} .. {_number(shown.edges[i + 1])}" if shown.edges is not None else label
            parts.append(
                f'<rect class="{name}" x="{x + offset * group:.1f}" y="{_TOP + plot_h - height:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{html.escape(where)}: {name} {float(value):.1%}</title></rect>"
            )
    parts.append(_x_ticks(shown, group, plot_h))
    parts.append(
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_LEFT + plot_w}" y2="{_TOP + plot_h}" stroke="#333"/>'
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + plot_h}" stroke="#333"/>'
        f'<text class="x-title" x="{_LEFT + plot_w / 2:.1f}" y="{_HEIGHT - 8}" font-size="11" '
        f'text-anchor="middle">{html.escape(x_title)}</text>'
        f'<text class="y-title" x="14" y="{_TOP + plot_h / 2:.1f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 14 {_TOP + plot_h / 2:.1f})">share of rows</text></svg>'
    )
    return "".join(parts)


def _x_ticks(shown: Distribution, group: float, plot_h: float) -> str:
    base = _TOP + plot_h
    parts: list[str] = []
    if shown.edges is not None:  # numeric: edges under the bars' boundaries, every few bins
        every = 4 if len(shown.labels) > 10 else 1
        for i in range(0, len(shown.edges), every):
            x = _LEFT + i * group
            parts.append(
                f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="#333"/>'
                f'<text x="{x:.1f}" y="{base + 16}" font-size="10" text-anchor="middle">'
                f"{html.escape(_number(float(shown.edges[i])))}</text>"
            )
        return "".join(parts)
    every = max(1, int(np.ceil(len(shown.labels) / _MAX_CATEGORY_LABELS)))
    slanted = len(shown.labels) > 8 or max((len(label) for label in shown.labels), default=0) > 8
    for i in range(0, len(shown.labels), every):
        x = _LEFT + (i + 0.5) * group
        text = shown.labels[i] if len(shown.labels[i]) <= 14 else shown.labels[i][:13] + "…"
        rotate = f' transform="rotate(-30 {x:.1f} {base + 14})"' if slanted else ""
        anchor = "end" if slanted else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{base + 14}" font-size="10" text-anchor="{anchor}"{rotate}>'
            f"{html.escape(text)}</text>"
        )
    return "".join(parts)


def _rule(column: ColumnDrift) -> str:
    return f"p-value &lt; {column.threshold:g}" if column.method in TESTS else f"distance &ge; {column.threshold:g}"


def _decision(column: ColumnDrift) -> str:
    return '<b class="drift">drift</b>' if column.drifted else '<span class="stable">no drift</span>'


def _margin(column: ColumnDrift) -> float:
    """How far a column is past (positive) or short of (negative) its threshold, in the threshold's units."""
    if column.method in TESTS:
        return (column.threshold - column.score) / column.threshold
    return (column.score - column.threshold) / column.threshold


def _anchor(name: str) -> str:
    return "col-" + "".join(c if c.isalnum() else "-" for c in name)


def _statistics(reference: FeatureReference, current: pd.Series) -> str:
    """Side-by-side numbers of one column: moments for a numeric one, shares for a categorical one."""
    present = current.dropna()
    missing = len(current) - len(present)
    if isinstance(reference, NumericReference):
        values = present.to_numpy(dtype=float)
        sample = np.asarray(reference.sample, dtype=float)

        def cells(numbers: np.ndarray) -> list[str]:
            if len(numbers) == 0:
                return ["-"] * 5
            return [_number(float(f(numbers))) for f in (np.min, np.median, np.max)] + [
                _number(float(np.mean(numbers))),
                _number(float(np.std(numbers))),
            ]

        rows = [
            ("reference", [*cells(sample)[:3], _number(reference.mean), _number(reference.std)], "-"),
            ("current", cells(values), str(missing)),
        ]
        head = "<tr><th></th><th>min</th><th>median</th><th>max</th><th>mean</th><th>std</th><th>missing</th></tr>"
        body = "".join(
            f"<tr><th>{name}</th>{''.join(f'<td>{c}</td>' for c in values_)}<td>{miss}</td></tr>"
            for name, values_, miss in rows
        )
        note = (
            f'<p class="note">Reference min, median and max are of the baseline\'s sample of {len(sample)} rows; '
            "its mean and std of all reference rows.</p>"
        )
        return f'<table class="stats">{head}{body}</table>{note}'
    ref = reference.as_dict() if isinstance(reference, CategoricalReference) else {}
    cur = dict(frequencies(present.to_numpy()))
    categories = sorted(set(ref) | set(cur), key=lambda c: -abs(cur.get(c, 0.0) - ref.get(c, 0.0)))
    body = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{ref.get(c, 0.0):.1%}</td><td>{cur.get(c, 0.0):.1%}</td>"
        f"<td>{cur.get(c, 0.0) - ref.get(c, 0.0):+.1%}</td></tr>"
        for c in categories
    )
    new = [c for c in cur if c not in ref]
    note = f'<p class="note">Not seen in the reference: {html.escape(", ".join(new))}.</p>' if new else ""
    return (
        '<table class="stats"><tr><th>category</th><th>reference</th><th>current</th><th>change</th></tr>'
        f'{body}</table><p class="note">{missing} missing value(s) in the window.</p>{note}'
    )


def _thumbnail(shown: Distribution) -> str:
    """The two distributions small, as Evidently's column table shows them: reference bars over current bars, on
    one scale, without axes (a column's details have them)."""
    top = max(float(shown.reference.max(initial=0)), float(shown.current.max(initial=0)), 1e-9)

    def bars(values: np.ndarray, colour: str) -> str:
        return "".join(
            f'<i style="height:{float(v) / top * 100:.0f}%;background:{colour}"></i>'
            for v in values[:_MAX_CATEGORY_LABELS]
        )

    return (
        f'<span class="thumb{"" if shown.edges is not None else " categories"}" '
        'title="share of rows per bin: reference (top), current (bottom)">'
        f'<span class="bars">{bars(shown.reference, _REFERENCE_COLOUR)}</span>'
        f'<span class="bars">{bars(shown.current, _CURRENT_COLOUR)}</span></span>'
    )


def _detail(
    column: ColumnDrift, reference: FeatureReference, current: pd.Series, *, label: str, shown: Distribution
) -> str:
    verdict = "drift detected" if column.drifted else "no drift"
    summary = (
        f'<summary><b>{html.escape(label)}</b> <span class="kind">{column.kind}</span> '
        f"&mdash; {'<b class=drift>' + verdict + '</b>' if column.drifted else verdict}: "
        f"{_METHOD_NAMES.get(column.method, column.method)} {_number(column.score)} ({_rule(column)})</summary>"
    )
    return (
        f'<details id="{_anchor(label)}"{" open" if column.drifted else ""}>{summary}'
        f'<div class="detail">{chart(label, shown, kind=column.kind)}'
        f"{_statistics(reference, current)}"
        f'<p class="note">PSI {_number(column.psi)} (reported, not used for the decision); '
        f"{column.current_rows} current rows with a value.</p></div></details>"
    )


def _quality_section(quality: LiveQuality | None) -> str:
    unmatched = (
        f"{quality.unmatched_feedback} label(s) matched no captured prediction"
        if quality is not None and quality.unmatched_feedback
        else ""
    )
    if quality is None:
        return (
            '<section><h2>Live quality</h2><p class="absent">Not part of this report: the run that wrote it '
            "passed no live quality.</p></section>"
        )
    if quality.status != EVALUATED:
        return (
            "<section><h2>Live quality</h2>"
            f'<p class="absent">Not evaluated: {html.escape(quality.reason)}. Quality needs ground truth: '
            "labels sent to <code>POST /feedback</code> for predictions of this window.</p>"
            f"<p>{quality.labelled} of {quality.predictions} predictions have a label"
            f"{f'; {unmatched}' if unmatched else ''}"
            ".</p></section>"
        )
    metrics = "".join(
        f"<tr><th>{html.escape(_METRIC_NAMES.get(k, k))}</th><td>{v:.3f}</td></tr>" for k, v in quality.metrics.items()
    )
    delays = "".join(
        f"<tr><th>label delay, {name}</th><td>{_duration(seconds)}</td></tr>"
        for name, seconds in quality.label_delay_s.items()
    )
    return (
        "<section><h2>Live quality</h2>"
        f"<p>{quality.task.capitalize()} quality of the {quality.labelled} predictions that have a label "
        f"(of {quality.predictions} in the quality window); a prediction labelled twice counts its latest label."
        f"{f' {unmatched}.' if unmatched else ''}"
        f'</p><table class="facts">{metrics}{delays}</table></section>'
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _card(title: str, value: str, detail: str, *, alert: bool = False) -> str:
    return (
        f'<div class="card{" alert" if alert else ""}"><div class="card-title">{html.escape(title)}</div>'
        f'<div class="card-value">{value}</div><div class="card-detail">{detail}</div></div>'
    )


def _summary(report: DriftReport, quality: LiveQuality | None, window: tuple[datetime, datetime] | None) -> str:
    cards: list[str] = []
    if report.status == EVALUATED:
        cards.append(
            _card(
                "Drifted features",
                f"{len(report.drifted_features)} of {len(report.features)}",
                html.escape(", ".join(report.drifted_features)) if report.drifted_features else "none",
                alert=bool(report.drifted_features),
            )
        )
        if report.prediction is not None:
            cards.append(
                _card(
                    "Prediction drift",
                    "detected" if report.prediction.drifted else "not detected",
                    f"{_METHOD_NAMES.get(report.prediction.method, report.prediction.method)} "
                    f"{_number(report.prediction.score)} ({_rule(report.prediction)})",
                    alert=report.prediction.drifted,
                )
            )
    else:
        cards.append(_card("Drift", "not evaluated", "too few rows in the window"))
    if window is not None:
        start, end = window
        minutes = (end - start).total_seconds() / 60
        cards.append(_card("Window", f"{minutes:.0f} min", f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"))
    cards.append(
        _card(
            "Rows",
            f"{report.window_rows:,} current",
            f"reference: {report.reference_rows:,} rows (the version's training rows)",
        )
    )
    if quality is None:
        cards.append(_card("Live quality", "absent", "this run passed none"))
    elif quality.status == EVALUATED:
        value = ", ".join(f"{_METRIC_NAMES.get(k, k)} {v:.3f}" for k, v in quality.metrics.items())
        cards.append(
            _card("Live quality", value, f"over {quality.labelled} labelled of {quality.predictions} predictions")
        )
    else:
        cards.append(_card("Live quality", "not evaluated", html.escape(quality.reason)))
    return f'{_verdict(report)}<div class="cards">{"".join(cards)}</div>'


def _verdict(report: DriftReport) -> str:
    """The headline, as Evidently opens its report: is the dataset drifting, and by which rule."""
    if report.status != EVALUATED:
        return f'<p class="verdict">Drift not evaluated: {html.escape(report.reason)}.</p>'
    counted = (
        f"{len(report.drifted_features)} of {len(report.features)} features drifted "
        f"(share {report.drift_share:.2f}, dataset drift from {report.policy.drift_share:.2f})"
    )
    if report.dataset_drift:
        return f'<p class="verdict alert">DATASET DRIFT: {counted}.</p>'
    return f'<p class="verdict">No dataset drift: {counted}.</p>'


def _columns(report: DriftReport, baseline: DriftBaseline, current: pd.DataFrame, predicted: Sequence[Any]) -> str:
    entries: list[tuple[ColumnDrift, FeatureReference, pd.Series, str]] = [
        (c, baseline.feature(c.name), current[c.name], c.name) for c in report.features
    ]
    if report.prediction is not None:
        reference: FeatureReference = (
            baseline.prediction_numeric
            if baseline.prediction_numeric is not None
            else CategoricalReference("prediction", baseline.prediction_distribution)
        )
        entries.append((report.prediction, reference, pd.Series(list(predicted)), "prediction"))
    # Drifted first, the furthest past its threshold first; then the nearest to drifting.
    entries.sort(key=lambda e: (not e[0].drifted, -_margin(e[0])))
    shown = [distribution(ref, cur) for _c, ref, cur, _label in entries]
    rows = "".join(
        f'<tr><td><a href="#{_anchor(label)}">{html.escape(label)}</a></td><td>{c.kind}</td>'
        f"<td>{_thumbnail(bins)}</td>"
        f"<td>{_METHOD_NAMES.get(c.method, c.method)}</td><td>{_number(c.score)}</td><td>{_rule(c)}</td>"
        f"<td>{_number(c.psi)}</td><td>{c.current_rows}</td><td>{_decision(c)}</td></tr>"
        for (c, _ref, _cur, label), bins in zip(entries, shown, strict=True)
    )
    details = "".join(
        _detail(c, ref, cur, label=label, shown=bins) for (c, ref, cur, label), bins in zip(entries, shown, strict=True)
    )
    method = _METHOD_NAMES[KS if report.reference_rows <= report.policy.small_reference_rows else WASSERSTEIN]
    return (
        "<section><h2>Columns</h2>"
        f"<p>Each column of the window against the reference ({report.reference_rows:,} rows). "
        f"With a reference of at most {report.policy.small_reference_rows:,} rows a statistical test decides "
        f"(drift when p &lt; {report.policy.p_value:g}), above it a distance (drift when &ge; "
        f"{report.policy.distance_threshold:g}); this reference uses the {html.escape(method)} for numeric columns. "
        "Drifted columns first; open a column for its distributions.</p>"
        '<table class="columns"><tr><th>column</th><th>type</th><th>reference / current</th><th>method</th>'
        f"<th>score</th><th>drift when</th><th>PSI</th><th>rows</th><th>decision</th></tr>{rows}</table>"
        f'<p class="legend"><span class="swatch" style="background:{_REFERENCE_COLOUR}"></span> reference '
        f'<span class="swatch" style="background:{_CURRENT_COLOUR}"></span> current (this window)</p>'
        f"{details}</section>"
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}"
    "h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em}"
    ".subtitle{color:#555;margin-top:0}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}th{background:#f6f6f6}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:1em 0}"
    ".card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:170px;flex:1}"
    ".card.alert{border-color:#c00;background:#fff5f5}.card-title{font-size:.85em;color:#555}"
    ".card-value{font-size:1.3em;font-weight:600;margin:.2em 0}.card.alert .card-value{color:#c00}"
    ".card-detail{font-size:.85em;color:#444}.verdict{font-size:1.15em;font-weight:600}.verdict.alert{color:#c00}"
    ".drift{color:#c00}.stable{color:#2a7}"
    "details{border:1px solid #ddd;border-radius:6px;margin:.6em 0;padding:.4em .8em}"
    "summary{cursor:pointer}.kind{color:#777;font-size:.85em}.detail{margin-top:.6em}"
    ".note{color:#555;font-size:.85em}.absent{color:#8a5a00}"
    ".swatch{display:inline-block;width:.9em;height:.9em;vertical-align:middle;margin-left:.6em}"
    "svg text{font-family:system-ui,sans-serif;fill:#333}"
    ".thumb{display:inline-flex;flex-direction:column;gap:2px;vertical-align:middle}"
    ".bars{display:flex;align-items:flex-end;height:16px;gap:1px}.bars i{display:block;width:4px}"
    ".categories .bars{gap:2px}.categories .bars i{width:10px}"
    ".columns{font-size:.9em}.columns td,.columns th{white-space:nowrap}"
)


def render_report(
    report: DriftReport,
    baseline: DriftBaseline,
    current: pd.DataFrame,
    predicted_labels: Sequence[Any],
    *,
    title: str,
    facts: Mapping[str, Any],
    quality: LiveQuality | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> str:
    """A self-contained HTML page for one monitor run: summary, columns (drill-down), live quality, run facts.

    ``window`` is the drift window (start, end); ``facts`` are further lines about the run, shown last.
    """
    subtitle = (
        f"Window {window[0]:%Y-%m-%d %H:%M} .. {window[1]:%Y-%m-%d %H:%M} UTC against the reference of the "
        "model version in service"
        if window is not None
        else "Against the reference of the model version in service"
    )
    if report.status == EVALUATED:
        columns = _columns(report, baseline, current, predicted_labels)
    else:
        columns = (
            f'<section><h2>Columns</h2><p class="absent">Drift was not evaluated: {html.escape(report.reason)}. '
            "A window below the minimum emits no drift metric, so it cannot raise the drift alarm.</p></section>"
        )
    fact_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items()
    )
    run = f'<section><h2>Run</h2><table class="facts">{fact_rows}</table></section>' if fact_rows else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='subtitle'>{html.escape(subtitle)}</p>"
        f"<section id='summary'>{_summary(report, quality, window)}</section>"
        f"{columns}{_quality_section(quality)}{run}</body></html>"
    )
