"""The feature pipeline's steps as plain typed functions (paper steps 8-12).

The pipeline's Lambda handlers (``functions/handlers/feature_*.py``) wrap each one, passing
rows between steps as staged S3 objects; ``mlops features ingest`` calls the same functions
in-process on a local store. A step is written once: what a run validates, quarantines,
reports, stores and materializes cannot differ between the two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from functions.feature_store.definitions import FeatureView, RawSource
from functions.feature_store.feedback import CAPTURE_DELIVERY_MARGIN, join_feedback, labels_due, rows_sha256
from functions.feature_store.manifest import sha256_hex
from functions.feature_store.materialization import LEASE_HOLD, MaterializationResult, materialize
from functions.feature_store.offline_store import OfflineStore, write_summary
from functions.feature_store.online_store import OnlineStore
from functions.feature_store.transformations import apply_transformation
from functions.feature_store.validation import enforce_bad_row_fraction, read_raw_table, validate_rows


@dataclass(frozen=True)
class ValidatedFile:
    """A raw file's valid rows, and the report its run keeps (counts, reasons, where the bad rows are)."""

    source: RawSource
    valid: pd.DataFrame
    source_uri: str
    source_sha256: str
    report: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return {k: int(self.report[k]) for k in ("rows_in", "rows_valid", "rows_quarantined")}

    @property
    def quarantine_uri(self) -> str | None:
        uri = self.report["quarantine_uri"]
        return str(uri) if uri else None


def validate_file(
    offline: OfflineStore,
    source: RawSource,
    data: bytes,
    *,
    name: str,
    source_uri: str,
    run_id: str,
    max_bad_row_fraction: float,
) -> ValidatedFile:
    """Validate a raw file against its source; quarantine bad rows with reasons; refuse too bad a file.

    The quarantine and the report are written before the bad-row limit is enforced, so a
    rejected file still shows why; nothing reaches the store before this step passes.
    """
    result = validate_rows(read_raw_table(data, name), source.schema, unique_keys=source.unique_keys)
    quarantined = result.rows_quarantined
    quarantine_uri = offline.write_quarantine(source.name, run_id, result.quarantined) if quarantined else None
    report = {
        **result.counts(),
        "reasons": result.reasons(),
        "quarantine_uri": quarantine_uri,
        "source_uri": source_uri,
    }
    offline.put_json(f"quarantine/{source.name}/{run_id}.json", report)
    enforce_bad_row_fraction(result, max_bad_row_fraction)
    return ValidatedFile(source, result.valid, source_uri, sha256_hex(data), report)


def transform(views: Sequence[FeatureView], valid: pd.DataFrame) -> list[tuple[FeatureView, pd.DataFrame]]:
    """Each view's versioned rule over the validated rows of its source."""
    return [(view, apply_transformation(view, valid)) for view in views]


def write_offline(
    offline: OfflineStore,
    transformed: Sequence[tuple[FeatureView, pd.DataFrame]],
    *,
    source_uri: str,
    source_sha256: str,
    created: datetime,
    write_id: str,
) -> list[dict[str, Any]]:
    """Append each view's rows to the offline store (idempotent per source file); one summary per view."""
    writes = []
    for view, rows in transformed:
        manifest, written = offline.write(
            view, rows, source_uri=source_uri, source_sha256=source_sha256, created=created, write_id=write_id
        )
        writes.append(write_summary(view, manifest, written))
    return writes


def materialize_views(
    views: Sequence[FeatureView],
    offline: OfflineStore,
    online: OnlineStore,
    *,
    chunk_rows: int,
    owner: str | None = None,
    lease_hold: timedelta = LEASE_HOLD,
    progress: Callable[[FeatureView], Callable[[int], None] | None] | None = None,
) -> list[MaterializationResult]:
    """Bring the online store up to date with each view's committed offline writes (``owner``: the run)."""
    return [
        materialize(
            view,
            offline,
            online,
            chunk_rows=chunk_rows,
            owner=owner,
            lease_hold=lease_hold,
            progress=progress(view) if progress else None,
        )
        for view in views
    ]


class CapturedPredictions(Protocol):
    """Where captures and feedback are read (``functions.monitoring.monitor_store.CaptureStore``)."""

    def captures(self, model: str, start: datetime, end: datetime) -> tuple[pd.DataFrame, list[Any], int]: ...

    def feedback(
        self, start: datetime, end: datetime, *, model: str | None = None
    ) -> tuple[pd.DataFrame, list[Any]]: ...


def join_state_key(view: FeatureView) -> str:
    """Where a feedback view's join keeps how far it has read the feedback (``{"through": ISO time}``)."""
    return f"joins/{view.name}/v{view.version}/state.json"


def join_feedback_labels(
    source: CapturedPredictions,
    offline: OfflineStore,
    *,
    model: str,
    view: FeatureView,
    label: str,
    labels: Sequence[str],
    end: datetime,
    max_label_delay: timedelta,
    run_id: str,
    created: datetime,
) -> tuple[dict[str, Any], list[Any]]:
    """Join the labels received since the last join with their captures; append them to the offline store.

    Incremental: the labels taken are those received after the previous join's ``through`` and at least
    ``CAPTURE_DELIVERY_MARGIN`` before ``end`` (their captures have arrived). Each label's capture is looked
    for up to ``max_label_delay`` before it. Refused labels are quarantined under
    ``quarantine/<feedback view>/<run id>.{parquet,json}``; the joined rows are one offline write (idempotent
    per set of labels). The state moves only after both. Returns (summary, malformed lines read).
    """
    through = end - CAPTURE_DELIVERY_MARGIN
    state_key = join_state_key(view)
    state = offline.get_json(state_key)
    after = pd.Timestamp(state["through"]).to_pydatetime() if state else None
    summary: dict[str, Any] = {
        "view": view.qualified_name,
        "labels_after": after.isoformat() if after else None,
        "labels_through": through.isoformat(),
    }
    if after is not None and through <= after:
        return {**summary, "status": "up_to_date", "counts": {"labels": 0}}, []
    # The first join of a deployment takes the labels of the last max_label_delay.
    feedback, rejected = source.feedback(after or through - max_label_delay, through, model=model)
    due = labels_due(feedback, after=after, through=through)
    captures = pd.DataFrame()
    if not due.empty:
        since = pd.to_datetime(due["timestamp"], utc=True).min().to_pydatetime() - max_label_delay
        captures, bad_captures, _ = source.captures(model, since, end)
        rejected = [*rejected, *bad_captures]
        summary["captures_read"] = {"start": since.isoformat(), "end": end.isoformat(), "rows": len(captures)}
    span = f" between {summary['captures_read']['start']} and {end.isoformat()}" if "captures_read" in summary else ""
    joined = join_feedback(captures, due, view=view, label=label, labels=labels, captures_read=span)
    summary.update(status="joined", counts=joined.counts(), reasons=joined.reasons(), quarantine_uri=None, write=None)
    if not joined.quarantined.empty:
        summary["quarantine_uri"] = offline.write_quarantine(view.name, run_id, joined.quarantined)
        offline.put_json(
            f"quarantine/{view.name}/{run_id}.json",
            {"counts": joined.counts(), "reasons": joined.reasons(), "quarantine_uri": summary["quarantine_uri"]},
        )
    if not joined.rows.empty:
        manifest, written = offline.write(
            view,
            joined.rows,
            source_uri=f"feedback of {model} received {summary['labels_after'] or 'before'} .. {through.isoformat()}",
            source_sha256=rows_sha256(joined.rows, label=label),
            created=created,
            write_id=f"feedback-{run_id}",
        )
        summary["write"] = write_summary(view, manifest, written)
    offline.put_json(state_key, {"through": through.isoformat(), "run_id": run_id})
    return summary, rejected
