"""The benchmark result writer: ratios from medians, peers that did not run, the markdown it renders."""

from __future__ import annotations

from pathlib import Path

from benchmarks.results import collect, render_markdown, row, target, write_comparison

MACHINE = {"cpu": "test cpu", "cores": 2, "memory_gb": 4.0, "python": "3.11", "platform": "linux"}


def _results(out: Path) -> dict[str, object]:
    return {
        "command": "make bench",
        "generated_at": "2026-01-01T00:00:00+00:00",
        "machine": MACHINE,
        "libraries": {"product": {"pandas": "3"}},
        "comparisons": collect(out),
    }


def test_ratio_is_peer_median_over_ours() -> None:
    measured = row("join", [1.0, 2.0, 3.0], [6.0, 6.0, 9.0])
    assert measured["ratio"] == 3.0
    assert measured["ours"]["p50_ms"] == 2000.0
    assert measured["peer_missing"] is None


def test_a_peer_that_did_not_run_has_no_number_and_says_why(tmp_path: Path) -> None:
    measured = row("join", [1.0], None, peer_missing="feast is not installed")
    assert measured["peer"] is None
    assert measured["ratio"] is None
    write_comparison(
        "pit",
        title="PIT",
        command="make bench",
        peer="Feast (not installed)",
        sizes={"rows": 10},
        rows=[measured],
        targets=[target("≥ 3x faster", None, "not measured: feast is not installed")],
        out=tmp_path,
    )
    text = render_markdown(_results(tmp_path))
    assert "| join | 1.00 s (IQR 0.00 s, p99 1.00 s, n=1) | — (feast is not installed) | — |" in text
    assert "| PIT | ≥ 3x faster | not judged | not measured: feast is not installed |" in text
    assert "x**" not in text


def test_markdown_leads_with_ratios_and_states_missed_targets(tmp_path: Path) -> None:
    write_comparison(
        "drift",
        title="Drift",
        command="make bench",
        peer="Evidently",
        sizes={},
        rows=[row("check", [1.0, 1.0], [2.0, 2.0])],
        targets=[target("≥ 5x faster", False, "2.00x")],
        notes=["same decisions"],
        blocks=[("cost", "small  $1")],
        out=tmp_path,
    )
    text = render_markdown(_results(tmp_path))
    assert text.index("## Summary (ratios first)") < text.index("## Drift")
    assert "| Drift | check | **2.00x** |" in text
    assert "| Drift | ≥ 5x faster | **missed** | 2.00x |" in text
    assert "- same decisions" in text
    assert "small  $1" in text
