"""`mlops features` against a local store directory: ingest, get, training-set, state kept between commands."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from mlops.cli import main
from mlops.demo import shipped_dataset_csv


def test_ingest_get_and_training_set_through_a_local_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given 30 days of the shipped data with one bad row, and a store directory
    raw = pd.read_csv(io.BytesIO(shipped_dataset_csv()), dtype=str).head(30)
    raw.loc[3, "temp_max"] = "warm"
    (tmp_path / "w.csv").write_text(raw.to_csv(index=False))
    store = ["--store", str(tmp_path / "store")]
    # When it is ingested twice
    assert main(["features", "ingest", str(tmp_path / "w.csv"), *store]) == 0
    assert "30 rows in = 29 stored + 1 quarantined" in capsys.readouterr().out
    assert main(["features", "ingest", str(tmp_path / "w.csv"), *store]) == 0
    assert "already ingested" in capsys.readouterr().out
    # Then a later command reads the online value as of a time within the TTL
    assert main(["features", "get", "daily_weather", "seattle", "--as-of", "2012-01-31T00:00Z", *store]) == 0
    assert "PRESENT" in capsys.readouterr().out
    # And a training set has one row per entity row, with a manifest of the files it read
    entities = pd.DataFrame(
        {
            "station_id": ["seattle", "seattle", "nowhere"],
            "event_timestamp": ["2012-01-10T12:00Z", "2011-01-01T00:00Z", "2012-01-10T00:00Z"],
        }
    )
    entities.to_parquet(tmp_path / "entities.parquet")
    out = tmp_path / "train.parquet"
    args = ["features", "training-set", str(tmp_path / "entities.parquet"), "--views", "daily_weather,weather_7d:v1"]
    assert main([*args, "--out", str(out), *store]) == 0
    training = pd.read_parquet(out)
    assert len(training) == 3
    assert training["temp_max"].notna().tolist() == [True, False, False]
    manifest = json.loads(out.with_suffix(".manifest.json").read_text())
    assert [v["name"] for v in manifest["views"]] == ["daily_weather", "weather_7d"]
    # Partitions pruned to [earliest entity - TTL, latest entity]: only 2012-01-01..10 (01-04 was quarantined)
    expected = {f"2012-01-{d:02d}" for d in range(1, 11)} - {"2012-01-04"}
    assert {f["event_date"] for f in manifest["files"]} == expected
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
