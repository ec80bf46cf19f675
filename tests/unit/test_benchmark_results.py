"""The benchmark result writer: ratios from medians, peers that did not run, the markdown it renders."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.results import collect, render_markdown, row, target, write_comparison, write_results

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


def test_a_partial_run_keeps_the_comparisons_it_did_not_measure(tmp_path: Path) -> None:
    # Given results.json from an earlier run with two comparisons and the feast environment's libraries
    out, directory = tmp_path / "out", tmp_path / "site"
    directory.mkdir()
    for name in ("drift", "pit"):
        write_comparison(name, title=name, command="make bench", peer="p", sizes={}, rows=[], out=out)
    first_libraries = {"feast environment": {"feast": "0.67.0"}, "product": {"pandas": "3"}}
    write_results("make bench", "2026-01-01T00:00:00+00:00", first_libraries, out=out, directory=directory)
    first = {c["name"]: c for c in json.loads((directory / "results.json").read_text())["comparisons"]}

    # When a later run measures only drift (and its out directory holds nothing else)
    for stale in out.iterdir():
        stale.unlink()
    write_comparison("drift", title="drift again", command="make bench", peer="p", sizes={}, rows=[], out=out)
    libraries = {"feast environment": {"(environment)": "missing"}, "product": {"pandas": "3.1"}}
    results = write_results(
        "make bench (BENCH_ONLY=drift)", "2026-01-02T00:00:00+00:00", libraries, out=out, directory=directory
    )

    # Then pit is kept as it was, drift is the new one, and the notes say what was kept
    # (and the libraries of an environment missing here are the previous run's, said so)
    by_name = {c["name"]: c for c in results["comparisons"]}
    assert by_name["pit"] == first["pit"]
    assert by_name["drift"]["title"] == "drift again"
    assert any("kept from the previous results.json" in n and "pit" in n for n in results["notes"])
    assert results["libraries"] == {"feast environment": {"feast": "0.67.0"}, "product": {"pandas": "3.1"}}
    assert any("as the previous run recorded them: feast environment" in n for n in results["notes"])
