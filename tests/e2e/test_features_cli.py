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
    # Partitions pruned to the months of [earliest entity - TTL, latest entity]: January 2012 only
    assert {f["event_month"] for f in manifest["files"]} == {"2012-01"}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])


def test_ingest_a_directory_of_parts_as_one_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given 30 days in three part files, a bad row in the second and the first's last day repeated in the third
    raw = pd.read_csv(io.BytesIO(shipped_dataset_csv()), dtype=str).head(30)
    raw.loc[12, "wind"] = "-3"
    batch = tmp_path / "2012-01"
    batch.mkdir()
    raw.iloc[0:10].to_csv(batch / "part-0.csv", index=False)
    raw.iloc[10:20].to_csv(batch / "part-1.csv", index=False)
    pd.concat([raw.iloc[9:10], raw.iloc[20:30]]).to_csv(batch / "part-2.csv", index=False)
    (batch / "_SUCCESS").write_bytes(b"")
    store = ["--store", str(tmp_path / "store"), "--max-bad-row-fraction", "0.1"]
    # When the directory is ingested, twice
    assert main(["features", "ingest", str(batch), *store]) == 0
    out = capsys.readouterr().out
    assert "31 rows in = 29 stored + 2 quarantined (3 parts" in out
    assert "weather_7d:v1: 29 rows; 3 parts written, 0 already ingested" in out
    assert main(["features", "ingest", str(batch), *store]) == 0
    assert "weather_7d:v1: 29 rows; 0 parts written, 3 already ingested" in capsys.readouterr().out
    # Then the store holds the features, and no run's scratch files
    assert main(["features", "get", "weather_7d", "seattle", "--as-of", "2012-01-31T00:00Z", *store[:2]]) == 0
    assert "PRESENT" in capsys.readouterr().out
    assert not (tmp_path / "store" / "offline" / "staging").exists()
    # And each run kept its two quarantine files (the bad row's part, the repeated day's part)
    runs = [d for d in (tmp_path / "store" / "offline" / "quarantine" / "seattle_weather").iterdir() if d.is_dir()]
    assert [len(list(run.glob("*.parquet"))) for run in runs] == [2, 2]
