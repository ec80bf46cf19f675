"""The drift report reads as a summary, then each column with labelled axes, then live quality; and a browser lays
it out so (headless Chromium renders one report, no local cloud)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from functions.monitoring.baseline import build_baseline
from functions.monitoring.drift import DriftPolicy, detect_drift
from functions.monitoring.quality import live_quality
from functions.monitoring.report import render_report

END = datetime(2026, 5, 1, 12, tzinfo=UTC)
WINDOW = (END - timedelta(hours=1), END)
# Names a browser goes by, fastest first: Debian's chromium-headless-shell (a second per render, a quarter of the
# full browser's CPU), Debian's chromium, Ubuntu's, Google's build. MLOPS_CHROMIUM overrides.
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome")


def _frame(rng: np.random.Generator, rows: int, *, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "temp": rng.normal(10 + shift, 3, rows),
            "wind": rng.gamma(2.0, 2.0, rows),
            "pressure": rng.normal(1013, 8, rows),
            "colour": rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2]),
        }
    )


@pytest.fixture(scope="module")
def parts() -> dict[str, object]:
    """A window whose temp shifted by 3 (its predictions with it), 200 of 300 predictions labelled."""
    rng = np.random.default_rng(0)
    reference, current = _frame(rng, 800), _frame(rng, 300, shift=3)
    baseline = build_baseline(
        reference, list(reference.columns), list(np.where(reference["temp"] > 10, "sun", "rain")), seed=1
    )
    predicted = list(np.where(current["temp"] > 10, "sun", "rain"))
    labelled_at = END - timedelta(minutes=30)
    predictions = pd.DataFrame(
        {"prediction_id": [f"p{i}" for i in range(300)], "timestamp": [labelled_at] * 300, "predicted_label": predicted}
    )
    feedback = pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(200)],
            "label": rng.choice(["sun", "rain"], 200),
            "timestamp": [labelled_at + timedelta(minutes=5)] * 200,
        }
    )
    return {
        "baseline": baseline,
        "current": current,
        "predicted": predicted,
        "drift": detect_drift(baseline, current, predicted),
        "quality": live_quality(predictions, feedback),
        "unlabelled": live_quality(predictions, feedback.head(0)),
    }


@pytest.fixture(scope="module")
def page(parts: dict[str, object]) -> str:
    return render_report(
        parts["drift"],  # type: ignore[arg-type]
        parts["baseline"],  # type: ignore[arg-type]
        parts["current"],  # type: ignore[arg-type]
        parts["predicted"],  # type: ignore[arg-type]
        title="Drift report m 20260501T120000Z-abc",
        facts={"run": "20260501T120000Z-abc", "model": "m v1"},
        quality=parts["quality"],  # type: ignore[arg-type]
        window=WINDOW,
    )


def _text(page: str) -> str:
    body = page[page.index("<body>") :]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def test_report_opens_with_a_summary_of_drift_window_rows_and_live_quality(page: str) -> None:
    text = _text(page)
    summary = text[: text.index("Columns")]
    assert "No dataset drift: 1 of 4 features drifted (share 0.25, dataset drift from 0.50)" in summary
    assert "Drifted features 1 of 4 temp" in summary
    assert "Prediction drift detected chi-square test" in summary
    assert "Window 60 min 2026-05-01 11:00 .. 2026-05-01 12:00 UTC" in summary
    assert "300 current reference: 800 rows" in summary
    assert re.search(r"Live quality accuracy 0\.\d{3}, macro F1 0\.\d{3} over 200 labelled of 300 predictions", summary)
    # No internals: empty dicts, Python reprs
    assert "{}" not in text and "{'" not in text


def test_report_lists_drifted_columns_first_each_opening_onto_labelled_axes(page: str) -> None:
    details = re.findall(r'<details id="col-([\w-]+)"( open)?>', page)
    assert [name for name, _ in details[:2]] == ["temp", "prediction"]  # the two that drifted, first
    assert {name for name, _ in details[2:]} == {"colour", "pressure", "wind"}
    assert [bool(opened) for _, opened in details] == [True, True, False, False, False]
    assert page.count("<svg") == 5 and page.count("share of rows</text>") == 5
    # and the table shows each column's two distributions small, as Evidently's does (20 bins, or 3 categories)
    assert page.count('<span class="thumb"') == 3 and page.count('<span class="thumb categories"') == 2
    assert "temp (value, 20 equal-width bins)" in page and "colour (category)" in page
    text = _text(page)
    assert "reference -1.698" in text or re.search(r"reference -?[\d.]+ [\d.]+ [\d.]+ [\d.]+ [\d.]+ -", text)
    assert re.search(r"category reference current change \w+ [\d.]+% [\d.]+% [+-][\d.]+%", text)


def test_report_says_why_live_quality_or_drift_is_absent(parts: dict[str, object]) -> None:
    small = detect_drift(parts["baseline"], parts["current"].head(50), policy=DriftPolicy())  # type: ignore[arg-type,union-attr]
    page = render_report(
        small,
        parts["baseline"],  # type: ignore[arg-type]
        parts["current"],  # type: ignore[arg-type]
        [],
        title="t",
        facts={},
        quality=parts["unlabelled"],  # type: ignore[arg-type]
        window=WINDOW,
    )
    text = _text(page)
    assert "Drift not evaluated: window has 50 rows, fewer than the minimum of 200." in text
    assert "cannot raise the drift alarm" in text and "<svg" not in page
    assert "Live quality Not evaluated: 0 predictions have feedback, fewer than the minimum of 30." in text
    assert "labels sent to POST /feedback" in text


def browser() -> str:
    """The headless browser to render with: one must be installed (`make test` installs Debian's)."""
    named = os.environ.get("MLOPS_CHROMIUM")
    if named and not shutil.which(named):
        pytest.fail(f"MLOPS_CHROMIUM={named} is not an executable: point it at a Chromium or Chrome binary")
    found = named or next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if not found:
        pytest.fail(
            "no Chromium to render the drift report with: `make test` installs it (apt-get install "
            "chromium-headless-shell), "
            "or set MLOPS_CHROMIUM to a Chromium or Chrome binary"
        )
    return found


# Runs in the browser after layout: what a reader would see, measured by Blink, written into the page.
_PROBE = """<script>
addEventListener('load', () => {
  const box = e => e.getBoundingClientRect();
  const charts = [...document.querySelectorAll('details')].map(d => {
    const svg = d.querySelector('svg'), frame = box(svg);
    const inside = t => { const r = box(t); return r.left >= frame.left - 1 && r.right <= frame.right + 1
      && r.top >= frame.top - 1 && r.bottom <= frame.bottom + 1; };
    return {id: d.id, open: d.open, visible: svg.checkVisibility(), width: frame.width, height: frame.height,
            bars: [...svg.querySelectorAll('rect')].filter(r => box(r).height > 0).length,
            clipped: d.open ? [...svg.querySelectorAll('text')].filter(t => !inside(t)).map(t => t.textContent) : []};
  });
  const layout = {charts, overflow: document.documentElement.scrollWidth > innerWidth,
    summaryFirst: box(document.querySelector('#summary')).bottom <= box(document.querySelector('table.columns')).top,
    cards: [...document.querySelectorAll('.card')].filter(c => box(c).width > 120).length};
  const out = document.createElement('pre'); out.id = 'layout'; out.textContent = JSON.stringify(layout);
  document.body.append(out);
});
</script>"""


def test_headless_chromium_lays_the_report_out_readably(page: str, tmp_path: Path) -> None:
    # Given the report with a probe that measures the laid-out page
    probed = tmp_path / "report.html"
    probed.write_text(page.replace("</body>", f"{_PROBE}</body>"), encoding="utf-8")
    # When Chromium renders it at a laptop's width
    done = subprocess.run(
        [
            browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,900",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r'<pre id="layout">(.*?)</pre>', done.stdout, re.S)
    assert done.returncode == 0 and found, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    layout = json.loads(html.unescape(found.group(1)))
    # Then the summary comes first, no line runs off the page, and every card is laid out
    assert layout["summaryFirst"] and not layout["overflow"]
    assert layout["cards"] == 5
    # And the drifted columns' charts are open and drawn, with every tick and axis title inside the chart
    opened = {c["id"]: c for c in layout["charts"] if c["open"]}
    assert set(opened) == {"col-temp", "col-prediction"}
    for chart in opened.values():
        assert chart["width"] >= 600 and chart["height"] >= 250 and chart["bars"] >= 3, chart
        assert chart["clipped"] == [], f"{chart['id']}: text outside the chart: {chart['clipped']}"
    # And the others wait closed, their charts hidden until opened
    assert [c["visible"] for c in layout["charts"]] == [True, True, False, False, False]
