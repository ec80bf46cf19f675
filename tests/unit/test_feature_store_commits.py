"""Pure rules of the feature store's scale path: online key encoding, the offline commit log, small manifests."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from functions.feature_store.commit_log import (
    EMPTY_INDEX,
    Commit,
    CompactedIndex,
    compacted,
    contiguous_after,
    first_per_write,
    position_of,
)
from functions.feature_store.definitions import Entity, FeatureView, Field, Transformation, ValueType
from functions.feature_store.manifest import StoredFile, WriteManifest, files_sha256, training_set_manifest
from functions.feature_store.online import entity_key, parse_entity_key
from functions.shared.errors import DataValidationError

PAIR = FeatureView(
    name="pair_view",
    version=1,
    entities=(Entity("pair", ("a", "b")),),
    schema=(Field("x", ValueType.FLOAT64),),
    ttl=timedelta(days=1),
    source="s",
    transformation=Transformation("rule", 1, lambda raw: raw),
)


def test_composite_keys_with_separators_inside_values_do_not_collide() -> None:
    # Given two entities that joined "key=value" with "|" once encoded to the same key
    first = entity_key(PAIR, {"a": "x|b=y", "b": "z"})
    second = entity_key(PAIR, {"a": "x", "b": "y|b=z"})
    # Then they are two keys, each decoding back to its own values
    assert first != second
    assert parse_entity_key(first) == {"a": "x|b=y", "b": "z"}
    assert parse_entity_key(second) == {"a": "x", "b": "y|b=z"}
    # And a key without separators reads as before (items already stored keep their keys)
    assert entity_key(PAIR, {"a": "seattle", "b": 42}) == "a=seattle|b=42"


def test_the_key_encoding_is_injective_on_random_values_made_of_separators() -> None:
    rng = random.Random(13)
    alphabet = ["|", "=", "%", "7C", "%7C", "a", "b=", ""]
    seen: dict[str, tuple[str, str]] = {}
    for _ in range(2_000):
        values = ("".join(rng.choices(alphabet, k=rng.randint(0, 4))), "".join(rng.choices(alphabet, k=3)))
        key = entity_key(PAIR, {"a": values[0], "b": values[1]})
        assert seen.setdefault(key, values) == values
        assert parse_entity_key(key) == {"a": values[0], "b": values[1]}
    with pytest.raises(DataValidationError, match=r"lacks join keys \['b'\]"):
        entity_key(PAIR, {"a": "x"})


def _commit(position: int, write_id: str) -> Commit:
    stored = StoredFile(f"s3://b/features/v/v1/event_month=2024-01/{write_id}-00000.parquet", "ab", 1, "2024-01")
    return Commit(position, WriteManifest(write_id, "v", 1, "r@v1", "src", "sha", "2024-01-01T00:00:00Z", (stored,), 1))


def test_the_log_is_read_up_to_its_first_gap_and_a_write_id_counts_once() -> None:
    # A position being taken right now (3) stops a reader before it: a watermark never passes it
    assert contiguous_after(0, [1, 2, 4, 5]) == [1, 2]
    assert contiguous_after(4, [1, 2, 4, 5, 6]) == [5, 6]
    assert contiguous_after(0, []) == []
    # A write committed again (its step retried) keeps its first position
    kept = first_per_write([_commit(2, "w2"), _commit(1, "w1"), _commit(3, "w1")])
    assert [(c.position, c.manifest.write_id) for c in kept] == [(1, "w1"), (2, "w2")]
    assert position_of("manifests/v/v1/commits/000000000042.json") == 42
    with pytest.raises(ValueError, match="not a commit log key"):
        position_of("manifests/v/v1/commits/notes.txt")


def test_compaction_folds_the_contiguous_tail_and_round_trips() -> None:
    index = compacted(EMPTY_INDEX, [_commit(1, "w1"), _commit(2, "w2"), _commit(4, "w4")])
    assert index.through == 2 and [c.manifest.write_id for c in index.commits] == ["w1", "w2"]
    # A write id already in the index is not added again; compaction continues where it stopped
    index = compacted(index, [_commit(3, "w1"), _commit(4, "w4")])
    assert index.through == 4 and [c.manifest.write_id for c in index.commits] == ["w1", "w2", "w4"]
    assert CompactedIndex.from_bytes(index.to_bytes()) == index
    assert compacted(index, []) is index


def test_a_training_set_manifest_lists_partitions_not_every_write() -> None:
    # Given 1,000 daily writes into one month of one view, and one write into the next month
    month = [
        StoredFile(f"s3://b/features/v/v1/event_month=2024-01/day{n:04d}-00000.parquet", f"{n:064x}", 2, "2024-01")
        for n in range(1_000)
    ]
    february = StoredFile("s3://b/features/v/v1/event_month=2024-02/w-00000.parquet", "f" * 64, 5, "2024-02")
    # When a training set read them all (one file twice)
    manifest = training_set_manifest([PAIR], [*month, february, month[0]], entity_rows=5, entity_sha256="e",
                                     strict=False)  # fmt: skip
    # Then the manifest has one entry per partition: the month's 1,000 files as one digest of exactly them
    january, feb = manifest.files
    assert (january.event_month, january.files, january.rows) == ("2024-01", 1_000, 2_000)
    assert january.uri == "s3://b/features/v/v1/event_month=2024-01"
    assert january.sha256 == files_sha256(month) != files_sha256(month[1:])
    assert (feb.uri, feb.sha256, feb.files) == (february.uri, february.sha256, 1)
    assert len(manifest.to_json()) < 2_000


def test_the_inference_functions_view_encodes_a_key_as_materialization_wrote_it() -> None:
    from functions.serving.online_view import describe_online_view, online_view

    served = online_view(describe_online_view(PAIR))
    for values in ({"a": "x|b=y", "b": "z"}, {"a": "x", "b": "y|b=z"}, {"a": "100%", "b": "="}):
        assert entity_key(served, values) == entity_key(PAIR, values)
