"""`mlops features --local` against the persistent local cloud: ingest lands the file where its S3 event starts the
feature pipeline (as in AWS) and shows what it quarantined; get and training-set read the cloud's stores."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlops.cli import main
from mlops.demo import shipped_dataset_csv
from mlops.local.server import STATE_DIR_ENV, LocalCloudServer


@pytest.fixture(scope="module")
def server(assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloudServer]:
    directory = tmp_path_factory.mktemp("local-cloud")
    with (
        pytest.MonkeyPatch.context() as patch,
        LocalCloudServer(assembly, directory=directory, load_sample_data=False) as running,
    ):
        patch.setenv(STATE_DIR_ENV, str(directory))
        yield running


def run(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> tuple[str, list[str]]:
    """``mlops ARGV``'s stdout and its error lines (the in-process cloud's own log lines share stderr here; in
    `mlops local up` they go to the cloud's log file)."""
    capsys.readouterr()
    assert main(list(argv)) == status, capsys.readouterr().err
    captured = capsys.readouterr()
    assert not any(line.startswith("Traceback") for line in captured.err.splitlines())
    return captured.out, [line for line in captured.err.splitlines() if line.startswith("error:")]


def test_ingest_get_and_training_set_through_the_local_cloud(
    server: LocalCloudServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 30 days of the shipped data with one bad row
    raw = pd.read_csv(io.BytesIO(shipped_dataset_csv()), dtype=str).head(30)
    raw.loc[3, "temp_max"] = "warm"
    (tmp_path / "w.csv").write_text(raw.to_csv(index=False))
    # When it is ingested into the local cloud, twice
    out, _ = run(capsys, "features", "ingest", str(tmp_path / "w.csv"), "--local")
    # Then the pipeline's counts reconcile, and the bad row is shown with its line and reason, and kept
    assert "30 rows in = 29 valid + 1 quarantined" in out
    assert "1 of 1 quarantined rows" in out and "type: temp_max is not float64: warm" in out
    assert "/quarantine/seattle_weather/" in out
    out, _ = run(capsys, "features", "ingest", str(tmp_path / "w.csv"), "--local")
    assert "already ingested" in out
    # And a later command reads the online value as of a time within the TTL
    out, _ = run(capsys, "features", "get", "daily_weather", "seattle", "--as-of", "2012-01-31T00:00Z", "--local")
    assert "PRESENT" in out
    # And a training set has one row per entity row, with a manifest of the files it read
    entities = pd.DataFrame(
        {
            "station_id": ["seattle", "seattle", "nowhere"],
            "event_timestamp": ["2012-01-10T12:00Z", "2011-01-01T00:00Z", "2012-01-10T00:00Z"],
        }
    )
    entities.to_parquet(tmp_path / "entities.parquet")
    target = tmp_path / "train.parquet"
    args = ["features", "training-set", str(tmp_path / "entities.parquet"), "--views", "daily_weather,weather_7d:v1"]
    run(capsys, *args, "--out", str(target), "--local")
    training = pd.read_parquet(target)
    assert len(training) == 3
    assert training["temp_max"].notna().tolist() == [True, False, False]
    manifest = json.loads(target.with_suffix(".manifest.json").read_text())
    assert [v["name"] for v in manifest["views"]] == ["daily_weather", "weather_7d"]
    # Partitions pruned to the months of [earliest entity - TTL, latest entity]: January 2012 only
    assert {f["event_month"] for f in manifest["files"]} == {"2012-01"}


def test_a_rejected_file_is_one_line_and_its_quarantine_is_kept_and_shown(
    server: LocalCloudServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file with 10 bad rows in 60 (17% > the 5% the stage allows)
    raw = pd.read_csv(io.BytesIO(shipped_dataset_csv()), dtype=str).iloc[100:160].reset_index(drop=True)
    for n in range(10):
        raw.loc[n * 3 + 1, "weather"] = "hail"
    (tmp_path / "bad.csv").write_text(raw.to_csv(index=False))
    # When it is ingested
    out, errors = run(capsys, "features", "ingest", str(tmp_path / "bad.csv"), "--local", status=2)
    # Then the refusal is one line with the reason and where the report is
    [line] = errors
    assert line.startswith("error: the feature pipeline refused the file: DataValidationError: 10 of 60 rows are bad")
    assert "/quarantine/seattle_weather/" in line and line.endswith(".json")
    # And the bad rows were kept and are shown: their lines in the file and their reasons
    assert "60 rows in = 50 valid + 10 quarantined" in out
    assert "10 of 10 quarantined rows" in out
    assert out.count("category: weather not in") == 10
