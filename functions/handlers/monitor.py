"""Monitor: drift and live quality of the champion over the last window, as metrics and an HTML report.

Scheduled by EventBridge. Reads the window's captures and the feedback
received so far, compares them with the champion version's drift baseline,
emits CloudWatch metrics (EMF) that the drift and quality alarms watch, and
stores a run record linking the HTML report. A window below the minimum size
is reported as skipped and emits no drift metric, so it can never alarm.

Each run also joins the labels received since the previous run with their captured predictions
into the model's feedback view of the offline store (``feature_store.steps.join_feedback_labels``):
ground truth becomes training data (paper step 27), whatever the quality window.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.feature_store.offline_store import OfflineStore
from functions.feature_store.steps import join_feedback_labels
from functions.monitoring.captures import drift_sample, feature_frame, predicted_outcomes
from functions.monitoring.drift import EVALUATED, DriftPolicy, detect_drift
from functions.monitoring.monitor_store import CaptureStore, MonitorRunStore, load_baseline
from functions.monitoring.quality import CLASSIFICATION, REGRESSION, live_quality
from functions.monitoring.report import render_report
from functions.monitoring.windows import champion_rows, monitor_windows
from functions.registry.model_registry import ModelRegistry
from functions.registry.model_store import resolve_serving
from functions.retraining.triggers import parse_time
from functions.shared.clients import client
from functions.shared.errors import ModelNotFoundError
from functions.shared.settings import MonitorSettings, project

__all__ = ["SETTINGS", "handler", "monitor_window"]

SETTINGS = MonitorSettings

logger = Logger()
metrics = Metrics()


@lru_cache(maxsize=1)
def settings() -> MonitorSettings:
    return MonitorSettings.from_env()


def champion_version() -> tuple[int, str]:
    """The version the monitor compares against, the registry's ``champion``, and its task."""
    champion = resolve_serving(ModelRegistry(client("dynamodb"), settings().registry_table), settings().model_name)
    return champion.version, str(champion.signature.get("task", CLASSIFICATION))


def monitor_window(
    config: MonitorSettings,
    *,
    s3: Any,
    end: datetime,
    current_version: Callable[[], int],
    emit: Metrics,
    task: str = CLASSIFICATION,
) -> dict[str, Any]:
    """Evaluate the window ending at ``end``; emit metrics; store the report and the run record.

    ``task`` is the champion's: a classifier's predictions are labels (their shares drift, live
    accuracy and F1), a regressor's are values (their distribution drifts, live MAE and RMSE).
    """
    model, version = config.model_name, current_version()
    windows = monitor_windows(
        end, window_minutes=config.window_minutes, quality_window_minutes=config.quality_window_minutes
    )
    start, quality_start = windows.drift_start, windows.quality_start
    run_id = f"{end:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    captures_store = CaptureStore(s3, config.capture_bucket)
    # One read covers both windows: drift looks at the last window, quality further back.
    captures, rejected, objects = captures_store.captures(model, quality_start, end)
    rows = champion_rows(captures, version, windows)
    looked_back, champion, other_versions = rows.since_quality_start, rows.in_drift_window, rows.other_versions
    feedback, rejected_feedback = captures_store.feedback(quality_start, end, model=model)
    baseline = load_baseline(s3, config.artifact_bucket, model, version)
    sampled = drift_sample(champion, config.drift_sample_rate)
    current = feature_frame(sampled)
    labels = predicted_outcomes(sampled, regression=task == REGRESSION)
    drift = detect_drift(baseline, current, labels, policy=DriftPolicy(min_window_rows=config.min_window_rows))
    quality = live_quality(looked_back, feedback, task=task, min_labelled=config.min_labelled)
    spec = project().model(model)
    joined, rejected_by_join = join_feedback_labels(
        captures_store,
        OfflineStore(s3, config.feature_offline_bucket),
        model=model,
        view=project().feedback_view(spec),
        label=spec.label,
        labels=spec.labels,
        end=end,
        max_label_delay=timedelta(hours=config.feedback_max_label_delay_hours),
        run_id=run_id,
        created=datetime.now(UTC),
    )
    seen = {(r.source, r.line) for r in (*rejected, *rejected_feedback)}
    rejected_feedback = [*rejected_feedback, *(r for r in rejected_by_join if (r.source, r.line) not in seen)]

    # The metrics describe the window, so they carry its end as their time.
    emit.set_timestamp(end)
    emit.add_dimension(name="model", value=model)
    emit.add_metric(name="CaptureVolume", unit=MetricUnit.Count, value=len(champion))
    emit.add_metric(name="RejectedLines", unit=MetricUnit.Count, value=len(rejected) + len(rejected_feedback))
    emit.add_metric(name="FeedbackJoined", unit=MetricUnit.Count, value=joined["counts"].get("joined", 0))
    emit.add_metric(name="FeedbackQuarantined", unit=MetricUnit.Count, value=joined["counts"].get("quarantined", 0))
    emit.add_metric(name="WindowSkipped", unit=MetricUnit.Count, value=int(drift.status != EVALUATED))
    if drift.status == EVALUATED:
        emit.add_metric(name="DriftShare", unit=MetricUnit.NoUnit, value=drift.drift_share)
        emit.add_metric(name="DatasetDrift", unit=MetricUnit.Count, value=int(drift.dataset_drift))
        if drift.prediction is not None:
            emit.add_metric(name="PredictionDriftScore", unit=MetricUnit.NoUnit, value=drift.prediction.score)
            emit.add_metric(name="PredictionDrift", unit=MetricUnit.Count, value=int(drift.prediction.drifted))
        for column in drift.features:
            with single_metric(
                name="FeatureDriftScore", unit=MetricUnit.NoUnit, value=column.score, namespace=emit.namespace
            ) as metric:
                metric.set_timestamp(end)
                metric.add_dimension(name="model", value=model)
                metric.add_dimension(name="feature", value=column.name)
    if quality.status == EVALUATED:
        names = {"accuracy": "LiveAccuracy", "f1_macro": "LiveF1", "mae": "LiveMAE", "rmse": "LiveRMSE"}
        for key, value in quality.metrics.items():
            emit.add_metric(name=names[key], unit=MetricUnit.NoUnit, value=value)
        emit.add_metric(name="LabelDelayMedian", unit=MetricUnit.Seconds, value=quality.label_delay_s["median"])

    facts = {
        "run": run_id,
        "model": f"{model} v{version}",
        "captured predictions": f"{len(champion)} of this version in the window ({other_versions} of others), "
        f"from {objects} capture object(s)",
        "drift rows": f"{len(current)} of the window's captures (drift sample rate {config.drift_sample_rate:g})",
        "quality window": f"{quality_start:%Y-%m-%dT%H:%M:%SZ} .. {end:%Y-%m-%dT%H:%M:%SZ}",
        "rejected lines": len(rejected) + len(rejected_feedback),
        "training feedback": f"{joined['view']}: "
        + ", ".join(f"{count} {what}" for what, count in joined["counts"].items())
        + f"; status {joined['status']}",
    }
    html = render_report(
        drift,
        baseline,
        current,
        labels,
        title=f"Drift report {model} {run_id}",
        facts=facts,
        quality=quality,
        window=(start, end),
    )
    record = {
        "run_id": run_id,
        "model_name": model,
        "model_version": version,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "quality_window_start": quality_start.isoformat(),
        "captures": len(champion),
        "other_version_captures": other_versions,
        "drift": drift.to_dict(),
        "quality": quality.to_dict(),
        "feedback_join": joined,
    }
    return MonitorRunStore(s3, config.artifact_bucket).save(model, run_id, record, html, rejected + rejected_feedback)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    end = parse_time(event["time"]) if event.get("time") else datetime.now(UTC)
    try:
        version, task = champion_version()
    except ModelNotFoundError as exc:
        # Before the first registration there is nothing to monitor (a missing baseline, later, is a fault).
        # Still a run: the same metric (window end, model) as every run, which the monitor's heartbeat alarm watches.
        metrics.set_timestamp(end)
        metrics.add_dimension(name="model", value=settings().model_name)
        metrics.add_metric(name="WindowSkipped", unit=MetricUnit.Count, value=1)
        logger.info("monitor skipped: no champion", extra={"why": str(exc)})
        return {"status": "skipped", "reason": str(exc)}
    record = monitor_window(
        settings(), s3=client("s3"), end=end, current_version=lambda: version, emit=metrics, task=task
    )
    drift = record["drift"]
    logger.info(
        "monitor run",
        extra={"run_id": record["run_id"], "status": drift["status"], "drift_share": drift["drift_share"]},
    )
    return {
        "run_id": record["run_id"],
        "status": drift["status"],
        "dataset_drift": drift["dataset_drift"],
        "drift_share": drift["drift_share"],
        "quality": {k: record["quality"][k] for k in ("status", "predictions", "labelled", "metrics", "reason")},
        "feedback_join": record["feedback_join"],
        "report_uri": record["report_uri"],
    }
