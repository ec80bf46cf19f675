"""The offline store's commit log and its compacted index: which writes are committed, in which order (pure).

A write commits by taking the next free position of its view's log (an object created only if
absent), so positions are dense and follow commit order, not the time a write started: a slow
write that started first and committed last gets the later position. Materialization's
watermark is a position, so no committed write is ever behind it unread.

The index is the log compacted up to a position (``through``): a reader gets it in one request
and lists only the positions after it, so a read costs the same however many writes there were.
A write id committed twice (a step retried after its commit but before its marker) counts once:
its first position wins.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from functions.feature_store.manifest import WriteManifest

# Positions are zero-padded in keys so key order is commit order (S3 lists in key order).
POSITION_DIGITS = 12


@dataclass(frozen=True)
class Commit:
    """One committed write at its position (1, 2, ...) in its view's log."""

    position: int
    manifest: WriteManifest

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "manifest": self.manifest.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Commit:
        return cls(int(data["position"]), WriteManifest.from_dict(data["manifest"]))


@dataclass(frozen=True)
class CompactedIndex:
    """Every commit at positions ``1..through``, each write id once, in commit order."""

    through: int
    commits: tuple[Commit, ...]

    def to_bytes(self) -> bytes:
        body = {"through": self.through, "commits": [c.to_dict() for c in self.commits]}
        return gzip.compress(json.dumps(body, separators=(",", ":")).encode(), mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactedIndex:
        body = json.loads(gzip.decompress(data))
        return cls(int(body["through"]), tuple(Commit.from_dict(c) for c in body["commits"]))


EMPTY_INDEX = CompactedIndex(0, ())


def position_name(position: int) -> str:
    return f"{position:0{POSITION_DIGITS}d}.json"


def position_of(key: str) -> int:
    """The position a log object's key names (``.../000000000042.json`` -> 42)."""
    name = key.rsplit("/", 1)[-1]
    if not name.endswith(".json") or not name.removesuffix(".json").isdigit():
        raise ValueError(f"not a commit log key: {key!r}")
    return int(name.removesuffix(".json"))


def contiguous_after(after: int, positions: Iterable[int]) -> list[int]:
    """The positions ``after+1, after+2, ...`` present, up to the first one missing.

    Positions are taken in order (the next is tried only once the one before exists), so a gap is
    a position being taken right now; stopping there keeps a watermark from passing it.
    """
    present = set(positions)
    run, nxt = [], after + 1
    while nxt in present:
        run.append(nxt)
        nxt += 1
    return run


def first_per_write(commits: Iterable[Commit], seen: Iterable[str] = ()) -> list[Commit]:
    """Commits in position order, a write id's later commits dropped (also ids in ``seen``)."""
    known = set(seen)
    kept = []
    for commit in sorted(commits, key=lambda c: c.position):
        if commit.manifest.write_id in known:
            continue
        known.add(commit.manifest.write_id)
        kept.append(commit)
    return kept


def compacted(index: CompactedIndex, tail: Sequence[Commit]) -> CompactedIndex:
    """``index`` extended by the contiguous part of ``tail`` after it."""
    by_position = {c.position: c for c in tail}
    run = contiguous_after(index.through, by_position)
    if not run:
        return index
    added = first_per_write([by_position[p] for p in run], seen=(c.manifest.write_id for c in index.commits))
    return CompactedIndex(run[-1], (*index.commits, *added))
