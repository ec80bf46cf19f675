"""Ground truth becomes training data: captured predictions joined with their delayed labels (pure).

Serving captures every prediction (its id, time, model version and input features) and ``POST /feedback``
stores the true label of a prediction id, often much later. The join pairs them by prediction id into
**labelled rows** of the model's *feedback view*, a feature view the toolkit derives from the model
(``feedback_view``), kept in the offline store like any other view::

    prediction_id | event_timestamp (= captured_at) | <model features> | <label> | row_source = "feedback"
                  | captured_at | labelled_at | predicted_by_version

``event_timestamp`` is the capture time (when the features were observed); the write's
``created_timestamp`` is when the row was joined, so a training set rebuilt ``as_of`` an earlier
moment does not see a label that had not arrived yet. A later label for the same prediction (a
correction) is a newer row of the same key and time: readers keep the latest (``training_rows``).

Rules of ``join_feedback``:

- labels are ordered by their time; several for one prediction in one batch: the latest wins, the others
  are counted as superseded (they stay in the raw feedback);
- a label whose prediction id has no capture in the span read, whose value is not a label of the model,
  or whose capture is ambiguous (the same id captured with different features) or lacks a feature of the
  model is **quarantined** with a one-line reason, never dropped;
- the same capture delivered twice (CloudWatch Logs and Firehose deliver at least once) is one capture.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from functions.feature_store.definitions import (
    CREATED_TIMESTAMP,
    EVENT_TIMESTAMP,
    Entity,
    FeatureView,
    Field,
    ValueType,
    transformation,
)
from functions.shared.errors import ConfigurationError

FEEDBACK_SOURCE = "feedback"
STORE_SOURCE = "feature_store"
PREDICTION_ID = "prediction_id"
ROW_SOURCE = "row_source"
CAPTURED_AT = "captured_at"
LABELLED_AT = "labelled_at"
PREDICTED_BY = "predicted_by_version"
# Provenance columns of a feedback row (and of every training-set row: see training_sets.py).
PROVENANCE = (PREDICTION_ID, ROW_SOURCE, CAPTURED_AT, LABELLED_AT, PREDICTED_BY)
# A label is joined once the capture it refers to has had this long to arrive: captures travel through
# CloudWatch Logs and Firehose (buffered 60 s), a label may come seconds after its prediction.
CAPTURE_DELIVERY_MARGIN = timedelta(minutes=10)

prediction = Entity("prediction", join_keys=(PREDICTION_ID,), description="one served prediction")


@transformation("feedback_join", version=1)
def _joined_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Feedback rows are produced by ``join_feedback``, not from a raw source: the rule is the identity."""
    return rows


def feedback_view_name(model_name: str) -> str:
    return f"feedback_{model_name.replace('-', '_')}"


def feedback_view(model_name: str, inputs: Sequence[Field], label: Field) -> FeatureView:
    """The model's feedback view: its input features, its label and the provenance of each row.

    A model whose features clash with the provenance columns cannot have one (``ConfigurationError``).
    """
    clash = sorted({f.name for f in (*inputs, label)} & set(PROVENANCE))
    if clash:
        raise ConfigurationError(
            f"model {model_name!r}: feature or label {clash} clashes with the feedback provenance columns "
            f"{list(PROVENANCE)}; rename it"
        )
    # Captured values passed the serving signature; the view's bounds are not checks here.
    features = tuple(Field(f.name, f.dtype, nullable=f.nullable, allowed=f.allowed) for f in inputs)
    provenance = (
        Field(ROW_SOURCE, ValueType.STRING),
        Field(CAPTURED_AT, ValueType.TIMESTAMP),
        Field(LABELLED_AT, ValueType.TIMESTAMP),
        Field(PREDICTED_BY, ValueType.INT64),
    )
    return FeatureView(
        name=feedback_view_name(model_name),
        version=1,
        entities=(prediction,),
        schema=(*features, Field(label.name, label.dtype, allowed=label.allowed), *provenance),
        # Rows are joined onto themselves (same key, same time): any positive TTL reads them.
        ttl=timedelta(days=1),
        source=FEEDBACK_SOURCE,
        transformation=_joined_rows,
        description=f"captured predictions of {model_name} joined with their ground truth",
    )


@dataclass(frozen=True)
class FeedbackJoin:
    """Labelled rows (the feedback view's columns, no ``created_timestamp``) and the refused labels."""

    rows: pd.DataFrame
    quarantined: pd.DataFrame  # prediction_id, label (as text), labelled_at, reason
    superseded: int

    def counts(self) -> dict[str, int]:
        return {
            "labels": len(self.rows) + len(self.quarantined) + self.superseded,
            "joined": len(self.rows),
            "quarantined": len(self.quarantined),
            "superseded": self.superseded,
        }

    def reasons(self) -> dict[str, int]:
        if self.quarantined.empty:
            return {}
        kinds = self.quarantined["reason"].str.split(":", n=1).str[0]
        return {str(k): int(v) for k, v in kinds.value_counts().sort_index().items()}


def labels_due(feedback: pd.DataFrame, *, after: datetime | None, through: datetime) -> pd.DataFrame:
    """The labels a join run takes: received after the previous run's ``through`` and at or before its own."""
    if feedback.empty:
        return feedback
    stamps = pd.to_datetime(feedback["timestamp"], utc=True)
    due = stamps <= pd.Timestamp(through)
    if after is not None:
        due &= stamps > pd.Timestamp(after)
    return feedback[due].reset_index(drop=True)


def join_feedback(
    captures: pd.DataFrame,
    feedback: pd.DataFrame,
    *,
    view: FeatureView,
    label: str,
    labels: Sequence[str] = (),
    captures_read: str = "",
) -> FeedbackJoin:
    """Pair ``feedback`` (prediction_id, label, timestamp) with ``captures`` (parsed capture rows).

    ``view`` is the model's ``feedback_view``; ``labels`` its classes (empty for a regression, whose label
    is a number); ``captures_read`` describes the span of captures read, for the unknown-id reason.
    """
    features = [f for f in view.schema if f.name not in (*PROVENANCE, label)]
    label_field = view.schema[[f.name for f in view.schema].index(label)]
    empty = _empty(view)
    if feedback.empty:
        return FeedbackJoin(empty, _quarantine([]), 0)
    ordered = feedback.assign(timestamp=pd.to_datetime(feedback["timestamp"], utc=True)).sort_values(
        "timestamp", kind="stable"
    )
    latest = ordered.drop_duplicates(PREDICTION_ID, keep="last")
    superseded = len(ordered) - len(latest)
    # Only the captures these labels name are typed and checked (a week of captures can be large).
    wanted = captures[captures["prediction_id"].isin(latest[PREDICTION_ID])] if not captures.empty else captures
    by_id = _captures_by_id(wanted, features)
    rows: list[dict[str, object]] = []
    refused: list[dict[str, object]] = []
    for item in latest.itertuples(index=False):
        pid, value, at = str(getattr(item, PREDICTION_ID)), item.label, item.timestamp
        reason = _label_problem(value, label_field, labels)
        capture = by_id.get(pid)
        if reason is None and capture is None:
            reason = f"unknown prediction id: no capture of {pid} by this model{captures_read}"
        elif reason is None and isinstance(capture, str):
            reason = capture
        if reason is not None:
            refused.append({PREDICTION_ID: pid, "label": str(value), LABELLED_AT: at, "reason": reason})
            continue
        assert isinstance(capture, dict)
        rows.append(
            {
                PREDICTION_ID: pid,
                EVENT_TIMESTAMP: capture[CAPTURED_AT],
                **{f.name: capture[f.name] for f in features},
                label: _typed_label(value, label_field),
                ROW_SOURCE: FEEDBACK_SOURCE,
                CAPTURED_AT: capture[CAPTURED_AT],
                LABELLED_AT: at,
                PREDICTED_BY: capture[PREDICTED_BY],
            }
        )
    joined = pd.DataFrame(rows, columns=list(empty.columns)) if rows else empty
    if rows:
        joined = joined.astype({f.name: _pandas_type(f.dtype) for f in features if f.dtype is not ValueType.STRING})
        joined = joined.sort_values([EVENT_TIMESTAMP, PREDICTION_ID], kind="stable").reset_index(drop=True)
    return FeedbackJoin(joined, _quarantine(refused), superseded)


def training_rows(stored: pd.DataFrame, *, features: Sequence[str], label: str, timestamp: str) -> pd.DataFrame:
    """A model's training rows from its stored feedback rows: the latest label of each prediction.

    Columns: ``timestamp`` (the capture time), the features, the label and the provenance columns, ordered
    by capture time (so the same stored rows always give the same table and hash).
    """
    columns = [timestamp, *features, label, PREDICTION_ID, ROW_SOURCE, LABELLED_AT]
    if stored.empty:
        return pd.DataFrame(columns=columns)
    latest = stored.sort_values([CREATED_TIMESTAMP, LABELLED_AT], kind="stable").drop_duplicates(
        PREDICTION_ID, keep="last"
    )
    # One request's predictions share its capture time: ties are ordered by content, then id, so which rows a
    # time split holds out does not depend on random prediction ids.
    latest = latest.sort_values([EVENT_TIMESTAMP, *features, label, PREDICTION_ID], kind="stable")
    latest = latest.reset_index(drop=True)
    return latest.rename(columns={EVENT_TIMESTAMP: timestamp})[columns]


def rows_sha256(rows: pd.DataFrame, *, label: str) -> str:
    """A stable digest of joined rows (ids, labels and label times): the same labels joined twice are one write."""
    digest = hashlib.sha256()
    for pid, value, at in zip(rows[PREDICTION_ID], rows[label], rows[LABELLED_AT], strict=True):
        digest.update(f"{pid}\0{value!r}\0{pd.Timestamp(at).isoformat()}\n".encode())
    return digest.hexdigest()


def _typed_label(value: object, field: Field) -> object:
    if field.dtype is ValueType.FLOAT64:
        return float(value)  # type: ignore[arg-type]
    if field.dtype is ValueType.INT64:
        return int(value)  # type: ignore[call-overload]
    return value


def _label_problem(value: object, field: Field, labels: Sequence[str]) -> str | None:
    if field.dtype in (ValueType.FLOAT64, ValueType.INT64):
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric or not math.isfinite(float(value)):  # type: ignore[arg-type]
            return f"invalid label: {value!r} is not a number"
        if field.dtype is ValueType.INT64 and not float(value).is_integer():  # type: ignore[arg-type]
            return f"invalid label: {value!r} is not a whole number"
        return None
    if labels and value not in labels:
        return f"invalid label: {value!r} is not one of {list(labels)}"
    if not isinstance(value, str):
        return f"invalid label: {value!r} is not a string"
    return None


def _captures_by_id(captures: pd.DataFrame, features: Sequence[Field]) -> dict[str, dict[str, object] | str]:
    """Each captured prediction id -> its capture (features typed), or the reason it cannot be used.

    Grouped once per column, not once per prediction: a window holds as many predictions as labels came in.
    """
    if captures.empty:
        return {}
    columns = {f.name: f"feature:{f.name}" for f in features}
    frame = captures.assign(**{c: None for c in columns.values() if c not in captures.columns})
    by_id = frame["prediction_id"]
    lacking = frame[list(columns.values())].isna().groupby(by_id, sort=False).any()
    seen = frame[[*columns.values(), "model_version"]].astype(str).assign(prediction_id=by_id)
    versions = seen.drop_duplicates().groupby("prediction_id", sort=False).size()
    firsts = frame.drop_duplicates("prediction_id").set_index("prediction_id").to_dict("index")
    out: dict[str, dict[str, object] | str] = {}
    for pid, lacks in lacking.iterrows():
        missing = [n for n, c in columns.items() if lacks[c]]
        if missing:
            out[str(pid)] = f"capture lacks features: prediction {pid} was captured without {missing}"
            continue
        if versions[pid] > 1:
            out[str(pid)] = (
                f"ambiguous capture: prediction {pid} was captured {versions[pid]} times with different values"
            )
            continue
        first = firsts[pid]
        try:
            values = {f.name: _typed(first[columns[f.name]], f) for f in features}
        except (TypeError, ValueError) as exc:
            out[str(pid)] = f"capture lacks features: prediction {pid}: {exc}"
            continue
        out[str(pid)] = {
            **values,
            CAPTURED_AT: pd.Timestamp(first["timestamp"]).tz_convert("UTC"),
            PREDICTED_BY: int(first["model_version"]),
        }
    return out


def _typed(value: object, field: Field) -> object:
    if field.dtype is ValueType.BOOL:
        text = str(value).lower()
        if text not in ("true", "false"):
            raise ValueError(f"feature {field.name!r} is {value!r}, not true or false")
        return text == "true"
    if field.dtype in (ValueType.FLOAT64, ValueType.INT64):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ValueError(f"feature {field.name!r} is {value!r}, not a number")
        return int(value) if field.dtype is ValueType.INT64 else float(value)
    return str(value)


def _pandas_type(dtype: ValueType) -> str:
    return {ValueType.FLOAT64: "float64", ValueType.INT64: "int64", ValueType.BOOL: "bool"}.get(dtype, "object")


def _empty(view: FeatureView) -> pd.DataFrame:
    columns = [*view.join_keys, EVENT_TIMESTAMP, *view.feature_names]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _quarantine(refused: list[dict[str, object]]) -> pd.DataFrame:
    columns = [PREDICTION_ID, "label", LABELLED_AT, "reason"]
    return pd.DataFrame(refused, columns=columns) if refused else pd.DataFrame(columns=columns)
