"""Offline (S3 Parquet) and online (DynamoDB) stores and materialization, on moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from functions.feature_store.manifest import sha256_hex
from functions.feature_store.materialization import materialize
from functions.feature_store.offline_layout import from_parquet_bytes
from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.online import OnlineStatus
from functions.feature_store.online_store import TTL_ATTRIBUTE, OnlineStore
from functions.feature_store.point_in_time import point_in_time_join
from functions.feature_store.transformations import apply_transformation
from functions.feature_store.validation import validate_rows
from functions.shared.errors import TransientStoreError
from tests.projects import SEATTLE_DIR, seattle

BUCKET, TABLE = "offline", "online"
SOURCE = seattle().raw_source("seattle_weather")
DAILY = seattle().feature_view("daily_weather", 1)
WEATHER_7D = seattle().feature_view("weather_7d", 1)
SHIPPED_CSV = SEATTLE_DIR / "data" / "seattle-weather.csv"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield {"s3": s3, "ddb": ddb}


def daily_rows(days: int = 30) -> pd.DataFrame:
    raw = pd.read_csv(SHIPPED_CSV).head(days)
    valid = validate_rows(raw, SOURCE.schema, unique_keys=("date",)).valid
    return apply_transformation(DAILY, valid)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_offline_write_is_partitioned_by_event_month_with_a_manifest_of_sha256s(aws: dict[str, Any]) -> None:
    store = OfflineStore(aws["s3"], BUCKET)
    # 40 days from 2012-01-01: January's 31 and February's 9
    manifest, written = store.write(
        DAILY, daily_rows(40), source_uri="s3://raw/a.csv", source_sha256="abc", created=at("2024-01-01"), write_id="w1"
    )
    assert written
    assert [(f.event_month, f.rows) for f in manifest.files] == [("2012-01", 31), ("2012-02", 9)]
    first = manifest.files[0]
    assert first.uri == f"s3://{BUCKET}/features/daily_weather/v1/event_month=2012-01/w1-00000.parquet"
    body = aws["s3"].get_object(Bucket=BUCKET, Key=first.uri.split("/", 3)[3])["Body"].read()
    assert sha256_hex(body) == first.sha256
    # Each row keeps its own event time inside the month's file
    assert from_parquet_bytes(body)["event_timestamp"].dt.day.tolist() == list(range(1, 32))
    assert manifest.rows == 40 and manifest.transformation == "seattle_daily_weather@v1"


def test_reads_prune_partitions_to_the_months_of_the_ttl_window(aws: dict[str, Any]) -> None:
    store = OfflineStore(aws["s3"], BUCKET)
    store.write(
        DAILY, daily_rows(70), source_uri="s3://raw/a.csv", source_sha256="a", created=at("2024-01-01"), write_id="w"
    )
    # TTL is 2 days: entity times 2012-03-01 .. 03-05 need 2012-02-28 .. 03-05, so February and March, not January
    rows, files = store.read(DAILY, start=at("2012-03-01"), end=at("2012-03-05"))
    assert sorted(f.event_month for f in files) == ["2012-02", "2012-03"]
    assert len(rows) == 29 + 10
    assert str(rows["event_timestamp"].dt.tz) == "UTC"
    # A window inside one month reads that month only
    _, files = store.read(DAILY, start=at("2012-01-10"), end=at("2012-01-12"))
    assert [f.event_month for f in files] == ["2012-01"]


def test_reingesting_the_same_file_adds_no_rows_to_training_sets(aws: dict[str, Any]) -> None:
    store = OfflineStore(aws["s3"], BUCKET)
    first, _ = store.write(
        DAILY,
        daily_rows(10),
        source_uri="s3://raw/a.csv",
        source_sha256="same",
        created=at("2024-01-01"),
        write_id="w1",
    )
    again, written = store.write(
        DAILY,
        daily_rows(10),
        source_uri="s3://raw/a.csv",
        source_sha256="same",
        created=at("2024-01-02"),
        write_id="w2",
    )
    assert not written and again == first
    rows, _ = store.read(DAILY)
    entities = pd.DataFrame({"station_id": ["seattle"] * 3, "event_timestamp": ["2012-01-03T12:00Z"] * 3})
    joined = point_in_time_join(entities, [(DAILY, rows)])
    assert len(rows) == 10 and len(joined) == 3


def test_an_older_online_write_never_replaces_a_newer_one(aws: dict[str, Any]) -> None:
    online = OnlineStore(aws["ddb"], TABLE, clock=lambda: at("2012-01-03"))
    rows = daily_rows(3).assign(created_timestamp=pd.Timestamp("2024-01-01", tz="UTC"))
    newest, older = rows.iloc[[2]], rows.iloc[[0]]
    assert online.write(DAILY, newest).written == 1
    assert online.write(DAILY, older).stale == 1
    [result] = online.read(DAILY, [{"station_id": "seattle"}])
    assert result.status is OnlineStatus.PRESENT
    assert result.event_timestamp == at("2012-01-03")
    assert result.features["temp_max"] == newest.iloc[0]["temp_max"]
    # Same event time, later created: a correction wins.
    corrected = newest.assign(temp_max=99.0, created_timestamp=pd.Timestamp("2024-02-01", tz="UTC"))
    assert online.write(DAILY, corrected).written == 1
    assert online.read(DAILY, [{"station_id": "seattle"}])[0].features["temp_max"] == 99.0


def test_views_sharing_an_entity_do_not_overwrite_each_other(aws: dict[str, Any]) -> None:
    online = OnlineStore(aws["ddb"], TABLE, clock=lambda: at("2012-01-07"))
    raw = validate_rows(pd.read_csv(SHIPPED_CSV).head(7), SOURCE.schema).valid
    created = pd.Timestamp("2024-01-01", tz="UTC")
    online.write(DAILY, apply_transformation(DAILY, raw).assign(created_timestamp=created).tail(1))
    online.write(WEATHER_7D, apply_transformation(WEATHER_7D, raw).assign(created_timestamp=created).tail(1))
    [daily] = online.read(DAILY, [{"station_id": "seattle"}])
    [weekly] = online.read(WEATHER_7D, [{"station_id": "seattle"}], features=["rain_days_7d"])
    assert daily.status is weekly.status is OnlineStatus.PRESENT
    assert set(daily.features) == set(DAILY.feature_names)
    assert weekly.features == {"rain_days_7d": int((raw["precipitation"] > 0).sum())}


def test_ttl_is_enforced_at_read_time_and_set_for_reclaiming(aws: dict[str, Any]) -> None:
    now = {"t": at("2012-01-02")}
    online = OnlineStore(aws["ddb"], TABLE, clock=lambda: now["t"])
    online.write(DAILY, daily_rows(1).assign(created_timestamp=pd.Timestamp("2012-01-01", tz="UTC")))
    assert online.read(DAILY, [{"station_id": "seattle"}])[0].status is OnlineStatus.PRESENT
    now["t"] = at("2012-01-03") + timedelta(seconds=1)
    [expired, missing] = online.read(DAILY, [{"station_id": "seattle"}, {"station_id": "tacoma"}])
    assert expired.status is OnlineStatus.EXPIRED and expired.features == {}
    assert missing.status is OnlineStatus.NOT_FOUND
    item = aws["ddb"].get_item(
        TableName=TABLE, Key={"pk": {"S": "station_id=seattle"}, "sk": {"S": "daily_weather#v1"}}
    )
    assert int(item["Item"][TTL_ATTRIBUTE]["N"]) == int(at("2012-01-03").timestamp())


def _item(key: str) -> dict[str, Any]:
    return {
        "pk": {"S": key},
        "sk": {"S": "daily_weather#v1"},
        "event_ts": {"N": str(int(at("2012-01-01").timestamp() * 1_000_000))},
        "created_ts": {"N": "0"},
        "features": {"M": {"temp_max": {"N": "10.5"}}},
    }


def _keys(keys: list[str]) -> dict[str, Any]:
    return {TABLE: {"Keys": [{"pk": {"S": k}, "sk": {"S": "daily_weather#v1"}} for k in keys]}}


def test_unprocessed_keys_are_retried_with_backoff_in_chunks_of_100() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    keys = [f"station_id=s{n:03d}" for n in range(150)]
    sleeps: list[float] = []
    online = OnlineStore(client, TABLE, sleep=sleeps.append, clock=lambda: at("2012-01-01T12:00"))
    with Stubber(client) as stub:
        first, second = keys[:100], keys[100:]
        stub.add_response(
            "batch_get_item",
            {"Responses": {TABLE: [_item(k) for k in first[:60]]}, "UnprocessedKeys": _keys(first[60:])},
            {"RequestItems": _keys(first)},
        )
        stub.add_response(
            "batch_get_item",
            {"Responses": {TABLE: [_item(k) for k in first[60:]]}, "UnprocessedKeys": {}},
            {"RequestItems": _keys(first[60:])},
        )
        stub.add_response(
            "batch_get_item", {"Responses": {TABLE: [_item(k) for k in second]}}, {"RequestItems": _keys(second)}
        )
        results = online.read(DAILY, [{"station_id": f"s{n:03d}"} for n in range(150)], features=["temp_max"])
        stub.assert_no_pending_responses()
    assert [r.status for r in results] == [OnlineStatus.PRESENT] * 150
    assert results[99].features == {"temp_max": 10.5}
    assert len(sleeps) == 1


def test_keys_left_unprocessed_after_every_attempt_are_a_clear_error() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    online = OnlineStore(client, TABLE, sleep=lambda _: None, max_attempts=3)
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_response("batch_get_item", {"Responses": {TABLE: []}, "UnprocessedKeys": _keys(["station_id=a"])})
        with pytest.raises(TransientStoreError, match="1 keys still unprocessed after 3 attempts"):
            online.read(DAILY, [{"station_id": "a"}])


def test_materialization_is_incremental_from_the_watermark(aws: dict[str, Any]) -> None:
    offline, online = OfflineStore(aws["s3"], BUCKET), OnlineStore(aws["ddb"], TABLE, clock=lambda: at("2012-01-20"))
    rows = daily_rows(20)
    offline.write(DAILY, rows.head(10), source_uri="a", source_sha256="a", created=at("2024-01-01"), write_id="w1")
    first = materialize(DAILY, offline, online, chunk_rows=3)
    assert (first.writes, first.rows_read) == (1, 10)
    assert online.read(DAILY, [{"station_id": "seattle"}])[0].event_timestamp == at("2012-01-10")
    assert materialize(DAILY, offline, online).writes == 0
    offline.write(DAILY, rows.tail(10), source_uri="b", source_sha256="b", created=at("2024-01-02"), write_id="w2")
    second = materialize(DAILY, offline, online, chunk_rows=4)
    assert (second.writes, second.rows_read) == (1, 10)
    [now] = online.read(DAILY, [{"station_id": "seattle"}])
    assert now.status is OnlineStatus.PRESENT and now.event_timestamp == at("2012-01-20")


def test_a_failed_chunk_leaves_the_watermark_where_it_was(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    offline, online = OfflineStore(aws["s3"], BUCKET), OnlineStore(aws["ddb"], TABLE)
    offline.write(DAILY, daily_rows(10), source_uri="a", source_sha256="a", created=at("2024-01-01"), write_id="w1")
    real_write, calls = online.write, {"n": 0}

    def flaky(view: Any, rows: pd.DataFrame) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise TransientStoreError("throttled")
        return real_write(view, rows)

    monkeypatch.setattr(online, "write", flaky)
    with pytest.raises(TransientStoreError):
        materialize(DAILY, offline, online, chunk_rows=4)
    assert online.watermark(DAILY) == 0
    monkeypatch.setattr(online, "write", real_write)
    assert materialize(DAILY, offline, online, chunk_rows=4).rows_read == 10
    assert online.watermark(DAILY) == 1


def test_a_training_set_as_of_a_past_time_reads_the_store_as_it_was_then(aws: dict[str, Any]) -> None:
    from functions.shared.objects import ObjectStore
    from functions.training.training_sets import FeatureStoreSource

    # Given January written on the 1st of February, then February written on the 1st of March
    offline = OfflineStore(aws["s3"], BUCKET)
    rows = daily_rows(60)
    january = rows[rows["event_timestamp"] < pd.Timestamp("2012-02-01", tz="UTC")]
    february = rows[rows["event_timestamp"] >= pd.Timestamp("2012-02-01", tz="UTC")]
    for part, created, write_id in ((january, "2026-02-01", "w-jan"), (february, "2026-03-01", "w-feb")):
        offline.write(DAILY, part, source_uri=write_id, source_sha256=write_id, created=at(created), write_id=write_id)
    project = seattle()
    spec = project.model("seattle-weather")
    # When a training set is built as of mid-February, and another one now
    objects = ObjectStore(aws["s3"])
    then = FeatureStoreSource(offline, objects, project=project, as_of="2026-02-15T00:00:00Z").build(spec)
    now = FeatureStoreSource(offline, objects, project=project).build(spec)
    # Then the past one has January only, read from January's files, and records its as_of
    assert len(then.frame) == len(january) and len(now.frame) == len(rows)
    files = then.origin["feature_store"]["files"]
    assert files and all("w-jan" in f["uri"] for f in files)
    assert then.origin["as_of"] == "2026-02-15T00:00:00+00:00"
    assert then.origin["feature_store"]["extra"] == {"as_of": "2026-02-15T00:00:00+00:00"}
    # And rebuilding with the recorded as_of gives the same rows
    again = FeatureStoreSource(offline, objects, project=project, as_of=then.origin["as_of"]).build(spec)
    pd.testing.assert_frame_equal(again.frame, then.frame)


def test_a_training_set_from_an_entity_file_joins_each_row_and_names_missing_columns(aws: dict[str, Any]) -> None:
    from functions.shared.errors import DataValidationError
    from functions.shared.objects import ObjectStore, S3Uri
    from functions.training.training_sets import FeatureStoreSource

    # Given 30 stored days and an entity file asking for three of them, in its own order
    offline, objects = OfflineStore(aws["s3"], BUCKET), ObjectStore(aws["s3"])
    offline.write(DAILY, daily_rows(30), source_uri="s", source_sha256="s", created=at("2026-01-01"), write_id="w")
    stamps = pd.to_datetime(["2012-01-20", "2012-01-03", "2012-01-10"], utc=True)
    objects.put_parquet(S3Uri(BUCKET, "entities.parquet"), pd.DataFrame({"station_id": ["seattle"] * 3,
                                                                         "event_timestamp": stamps}))  # fmt: skip
    project = seattle()
    spec = project.model("seattle-weather")
    # When a training set is built from it, with and without a window
    entities_uri = f"s3://{BUCKET}/entities.parquet"
    built = FeatureStoreSource(offline, objects, project=project, entities_uri=entities_uri).build(spec)
    windowed = FeatureStoreSource(
        offline, objects, project=project, entities_uri=entities_uri, start="2012-01-05"
    ).build(spec)
    # Then every entity row gets that day's features, in the file's order, and the window keeps two
    assert list(built.frame["date"]) == list(stamps)
    expected = daily_rows(30).set_index("event_timestamp").loc[stamps, "temp_max"].tolist()
    assert built.frame["temp_max"].tolist() == expected
    assert list(windowed.frame["date"]) == [stamps[0], stamps[2]]
    assert built.origin["entities_uri"] == f"s3://{BUCKET}/entities.parquet"
    # And an entity file without the join key is refused by name
    objects.put_parquet(S3Uri(BUCKET, "bad.parquet"), pd.DataFrame({"event_timestamp": stamps}))
    with pytest.raises(DataValidationError, match=r"has no column\(s\) \['station_id'\]"):
        FeatureStoreSource(offline, objects, project=project, entities_uri=f"s3://{BUCKET}/bad.parquet").build(spec)


@pytest.fixture
def s3_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A bucket on moto and nothing else (a DynamoDB table costs a test a few tenths of a second)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def test_a_file_over_the_bad_row_limit_from_malformed_lines_fails_and_its_quarantine_keeps_every_line(
    s3_only: Any,
) -> None:
    from functions.feature_store.steps import validate_file
    from functions.feature_store.validation import RAW_LINE, SOURCE_LINE
    from functions.shared.errors import DataValidationError

    # Given 10 data lines of which 2 have a field too many (20% bad) and a 5% limit
    lines = SHIPPED_CSV.read_bytes().splitlines()[:11]
    lines[2] += b",x"
    lines[7] += b",y"
    offline = OfflineStore(s3_only, BUCKET)
    # When the file is validated
    with pytest.raises(DataValidationError, match=r"2 of 10 rows are bad .*: malformed=2"):
        validate_file(
            offline,
            SOURCE,
            b"\n".join(lines) + b"\n",
            name="raw/w.csv",
            source_uri="s3://raw/w.csv",
            run_id="run-1",
            max_bad_row_fraction=0.05,
        )
    # Then the run stored nothing, and its report and quarantine name each bad line with its number and text
    report = offline.get_json("quarantine/seattle_weather/run-1.json")
    assert report is not None
    assert (report["rows_in"], report["rows_quarantined"], report["reasons"]) == (10, 2, {"malformed": 2})
    bad = from_parquet_bytes(
        s3_only.get_object(Bucket=BUCKET, Key="quarantine/seattle_weather/run-1.parquet")["Body"].read()
    )
    assert list(bad[SOURCE_LINE]) == ["3", "8"] and list(bad[RAW_LINE]) == [lines[2].decode(), lines[7].decode()]
    keys = [o["Key"] for o in s3_only.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert sorted(keys) == ["quarantine/seattle_weather/run-1.json", "quarantine/seattle_weather/run-1.parquet"]


def test_two_overlapping_runs_the_slower_first_are_both_materialized(aws: dict[str, Any]) -> None:
    # Given a slow run that started first (created earlier) but commits after a faster run materialized
    offline, online = OfflineStore(aws["s3"], BUCKET), OnlineStore(aws["ddb"], TABLE, clock=lambda: at("2012-01-10"))
    rows = daily_rows(10)
    fast, slow = rows, rows.assign(station_id="tacoma")
    offline.write(DAILY, fast, source_uri="f", source_sha256="f", created=at("2024-01-01T10:05"), write_id="fast")
    assert materialize(DAILY, offline, online, owner="fast").watermark == 1
    offline.write(DAILY, slow, source_uri="s", source_sha256="s", created=at("2024-01-01T10:00"), write_id="slow")
    # When the slower run materializes
    result = materialize(DAILY, offline, online, owner="slow")
    # Then its rows are read (the watermark is a commit position, not a start time) and both entities are online
    assert (result.writes, result.rows_read, result.watermark) == (1, 10, 2)
    both = online.read(DAILY, [{"station_id": "seattle"}, {"station_id": "tacoma"}])
    assert [r.status for r in both] == [OnlineStatus.PRESENT, OnlineStatus.PRESENT]


def test_a_run_finding_its_view_materializing_waits_then_names_the_holder(aws: dict[str, Any]) -> None:
    offline = OfflineStore(aws["s3"], BUCKET)
    offline.write(DAILY, daily_rows(3), source_uri="a", source_sha256="a", created=at("2024-01-01"), write_id="w1")
    sleeps: list[float] = []
    online = OnlineStore(aws["ddb"], TABLE, sleep=sleeps.append, clock=lambda: at("2024-01-01T12:00"))
    # Given run-1 holding the view's lease
    with online.materialization_lease(DAILY, "run-1", hold=timedelta(minutes=5), wait=timedelta(0)):
        # When run-2 materializes the same view, it waits its budget, then fails naming the holder; nothing written
        with pytest.raises(TransientStoreError, match=r"daily_weather:v1 is held by run run-1 until 2024-01-01T12:05"):
            materialize(DAILY, offline, online, owner="run-2", lease_wait=timedelta(seconds=1))
        assert sum(sleeps) == pytest.approx(1.0) and online.watermark(DAILY) == 0
    # Then once run-1 released it, run-2's retry materializes
    assert materialize(DAILY, offline, online, owner="run-2").written == 1
    # And a lease that lapsed (its run died) is taken over
    later = OnlineStore(aws["ddb"], TABLE, clock=lambda: at("2024-01-01T12:10"))
    with online.materialization_lease(DAILY, "dead", hold=timedelta(minutes=5), wait=timedelta(0)):
        assert materialize(DAILY, offline, later, owner="run-3").writes == 0


def test_batch_writes_retry_unprocessed_items_and_skip_entities_holding_newer_rows() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    sleeps: list[float] = []
    online = OnlineStore(client, TABLE, sleep=sleeps.append, write_threads=1)
    # Given 30 stations of which s000 already holds a newer row online
    day = daily_rows(1)
    rows = day.loc[day.index.repeat(30)].assign(
        station_id=[f"s{n:03d}" for n in range(30)], created_timestamp=pd.Timestamp("2024-01-01", tz="UTC")
    )
    newer = {**_item("station_id=s000"), "event_ts": {"N": str(int(at("2012-02-01").timestamp() * 1_000_000))}}
    with Stubber(client) as stub:
        stub.add_response("batch_get_item", {"Responses": {TABLE: [newer]}})
        # When the first BatchWriteItem (25 items) leaves 3 unprocessed, then the second (4 items) succeeds
        first: dict[str, Any] = {}

        def unprocessed(params: dict[str, Any], **_: Any) -> None:
            first.setdefault("request", params["RequestItems"][TABLE])

        client.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", unprocessed)
        stub.add_response("batch_write_item", {"UnprocessedItems": {TABLE: _puts(3)}})
        stub.add_response("batch_write_item", {"UnprocessedItems": {}})
        stub.add_response("batch_write_item", {"UnprocessedItems": {}})
        counts = online.write(DAILY, rows)
        stub.assert_no_pending_responses()
    # Then 29 were written in 25 + 4, the 3 left over retried once after a backoff, s000 counted stale
    assert (counts.written, counts.stale) == (29, 1)
    assert len(first["request"]) == 25 and len(sleeps) == 1
    assert "station_id=s000" not in {p["PutRequest"]["Item"]["pk"]["S"] for p in first["request"]}


def test_items_left_unprocessed_after_every_attempt_are_a_clear_error() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    online = OnlineStore(client, TABLE, sleep=lambda _: None, max_attempts=2)
    rows = daily_rows(1).assign(created_timestamp=pd.Timestamp("2024-01-01", tz="UTC"))
    with Stubber(client) as stub:
        stub.add_response("batch_get_item", {"Responses": {TABLE: []}})
        for _ in range(2):
            stub.add_response("batch_write_item", {"UnprocessedItems": {TABLE: _puts(1)}})
        with pytest.raises(TransientStoreError, match="1 items of daily_weather:v1 still unprocessed after 2 attempts"):
            online.write(DAILY, rows)


def _puts(n: int) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": _item(f"station_id=u{i}")}} for i in range(n)]


def test_a_read_costs_the_same_however_many_writes_and_sees_each_committed_write_once(
    s3_only: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.feature_store import offline_store

    monkeypatch.setattr(offline_store, "COMPACT_AFTER", 2)
    store = OfflineStore(s3_only, BUCKET)
    calls: list[str] = []
    s3_only.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    rows = daily_rows(8)

    def requests_of_a_read() -> int:
        calls.clear()
        store.files(DAILY)
        return len(calls)

    # Given 3 writes, then 6: the index folds every 2 commits
    for n in range(6):
        day = rows.iloc[[n]]
        store.write(DAILY, day, source_uri=f"d{n}", source_sha256=f"d{n}", created=at("2024-01-01"), write_id=f"w{n}")
        if n == 2:
            after_3 = requests_of_a_read()
    # Then a read is one index GET, one LIST and the few commits after the index, whatever the count
    assert after_3 <= 2 + 2 and requests_of_a_read() <= 2 + 2
    assert [m.write_id for m in store.manifests(DAILY)] == [f"w{n}" for n in range(6)]
    # And a write whose position a concurrent write took commits at the next one
    monkeypatch.setattr(store, "_index_through", lambda view: 0)
    store.write(DAILY, rows.iloc[[6]], source_uri="x", source_sha256="x", created=at("2024-01-02"), write_id="w6")
    assert [c.position for c in store.commits(DAILY, after=5)] == [6, 7]
    # And a write id committed twice (its step retried before the marker) is read once
    store.write(DAILY, rows.iloc[[6]], source_uri="x", source_sha256="x2", created=at("2024-01-03"), write_id="w6")
    assert [m.write_id for m in store.manifests(DAILY)].count("w6") == 1
    assert len(store.files(DAILY)) == 7


def test_a_backfill_materializes_in_key_shards_and_moves_the_watermark_only_when_all_are_done(
    aws: dict[str, Any],
) -> None:
    from functions.feature_store.materialization import finish_shards, materialize_shard, plan_shards
    from functions.shared.errors import StorageError

    offline, online = OfflineStore(aws["s3"], BUCKET), OnlineStore(aws["ddb"], TABLE, clock=lambda: at("2012-01-03"))
    day = daily_rows(3)
    rows = day.loc[day.index.repeat(20)].assign(station_id=[f"s{n % 20:02d}" for n in range(60)])
    offline.write(DAILY, rows, source_uri="b", source_sha256="b", created=at("2024-01-01"), write_id="backfill")
    # Given a plan of 3 shards of the commits after the watermark, its lease held by the run
    plan = plan_shards([DAILY], offline, online, owner="run-b", hold=timedelta(hours=1), shard_rows=20, max_shards=3)
    assert [(s.after, s.through, s.shard, s.shards) for s in plan] == [(0, 1, 0, 3), (0, 1, 1, 3), (0, 1, 2, 3)]
    with pytest.raises(TransientStoreError, match="held by run run-b"):
        materialize(DAILY, offline, online, owner="other", lease_wait=timedelta(0))
    # When each shard runs (a Map item each), they write disjoint entities, all of them together
    results = [materialize_shard(DAILY, offline, online, s, chunk_rows=100) for s in plan]
    assert sum(r.written for r in results) == 20 and all(r.rows_read == 60 for r in results)
    assert online.watermark(DAILY) == 0
    # Then finishing needs every shard's result, moves the watermark and gives the lease back
    with pytest.raises(StorageError, match="not every planned shard reported"):
        finish_shards([DAILY], online, plan, results[:2], owner="run-b", hold=timedelta(minutes=1))
    [summary] = finish_shards([DAILY], online, plan, results, owner="run-b", hold=timedelta(minutes=1))
    assert (summary.writes, summary.rows_read, summary.written, summary.watermark) == (1, 60, 20, 1)
    found = online.read(DAILY, [{"station_id": f"s{n:02d}"} for n in range(20)])
    assert all(r.status is OnlineStatus.PRESENT and r.event_timestamp == at("2012-01-03") for r in found)
    assert materialize(DAILY, offline, online, owner="other", lease_wait=timedelta(0)).writes == 0


def test_a_store_from_before_the_commit_log_is_read_and_joins_the_log_at_its_next_write(s3_only: Any) -> None:
    import json

    # Given a write stored the old way: its manifest under manifests/<view>/v1/<write id>.json, a marker naming it
    store = OfflineStore(s3_only, BUCKET)
    rows = daily_rows(4)
    old, _ = store.write(
        DAILY, rows.head(2), source_uri="o", source_sha256="o", created=at("2024-01-01"), write_id="old"
    )
    for key in ("manifests/daily_weather/v1/commits/000000000001.json", "ingested/daily_weather/v1/o.json"):
        s3_only.delete_object(Bucket=BUCKET, Key=key)
    legacy = "manifests/daily_weather/v1/old.json"
    s3_only.put_object(Bucket=BUCKET, Key=legacy, Body=json.dumps(old.to_dict()).encode())
    s3_only.put_object(Bucket=BUCKET, Key="ingested/daily_weather/v1/o.json", Body=json.dumps({"manifest": legacy}))
    # Then readers see it, a re-ingest of its source finds it, and the next write commits it first, at position 1
    assert [m.write_id for m in store.manifests(DAILY)] == ["old"]
    assert store.write(DAILY, rows.head(2), source_uri="o", source_sha256="o", created=at("2024-01-05"),
                       write_id="again") == (old, False)  # fmt: skip
    store.write(DAILY, rows.tail(2), source_uri="n", source_sha256="n", created=at("2024-01-02"), write_id="new")
    assert [(c.position, c.manifest.write_id) for c in store.commits(DAILY)] == [(1, "old"), (2, "new")]
