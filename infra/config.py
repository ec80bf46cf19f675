"""Typed, frozen stage configuration, chosen once in ``app.py``.

Constructs receive a ``StageConfig`` and never read CDK context or the
environment themselves. Every value is validated when the config is built,
so a bad value fails ``cdk synth`` with a message naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,15}$")
_SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^)]+\))$")
# CloudWatch Logs accepts only these retention periods (days).
_LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


def _rate_minutes(schedule: str) -> int | None:
    """The interval of an EventBridge ``rate(...)`` expression in minutes; None for a cron expression."""
    match = re.match(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$", schedule)
    if match is None:
        return None
    return int(match.group(1)) * {"m": 1, "h": 60, "d": 1440}[match.group(2)[0]]


class StageConfigError(ValueError):
    """A stage config value is invalid; the message names the field."""


@dataclass(frozen=True)
class FunctionSizing:
    """Memory (MB) and timeout (s) of one Lambda function."""

    memory_mb: int
    timeout_s: int

    def validate(self, name: str) -> None:
        if not 128 <= self.memory_mb <= 10240:
            raise StageConfigError(f"{name}.memory_mb must be within 128..10240, got {self.memory_mb}")
        if not 1 <= self.timeout_s <= 900:
            raise StageConfigError(f"{name}.timeout_s must be within 1..900, got {self.timeout_s}")


@dataclass(frozen=True)
class BatchSizing:
    """AWS Batch (Fargate) training job: vCPUs, memory (MiB), timeout (s), compute environment cap."""

    vcpus: float = 2.0
    memory_mb: int = 8192
    timeout_s: int = 3600
    max_vcpus: int = 16

    def validate(self) -> None:
        # Fargate's valid vCPU values; memory must fit the vCPU's range (checked loosely here, exactly by Batch).
        if self.vcpus not in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0):
            raise StageConfigError(f"batch.vcpus must be a Fargate size (0.25..16), got {self.vcpus}")
        if not 512 <= self.memory_mb <= 122880:
            raise StageConfigError(f"batch.memory_mb must be within 512..122880, got {self.memory_mb}")
        if not 60 <= self.timeout_s <= 86400:
            raise StageConfigError(f"batch.timeout_s must be within 60..86400, got {self.timeout_s}")
        if self.max_vcpus < self.vcpus:
            raise StageConfigError("batch.max_vcpus must be at least batch.vcpus")


@dataclass(frozen=True)
class StageConfig:
    """Everything that differs between dev and prod."""

    name: str
    # The served model: set from the project by ``infra.app_builder`` (the project declares its models).
    model_name: str = ""
    retain_data: bool = False
    log_retention_days: int = 14
    # Lambda's 15-minute maximum: larger sets go to AWS Batch (batch_threshold_rows), not a longer Lambda.
    training: FunctionSizing = field(default_factory=lambda: FunctionSizing(memory_mb=2048, timeout_s=900))
    inference: FunctionSizing = field(default_factory=lambda: FunctionSizing(memory_mb=1024, timeout_s=10))
    pipeline_step: FunctionSizing = field(default_factory=lambda: FunctionSizing(memory_mb=512, timeout_s=60))
    pipeline_timeout_s: int = 1800
    retrain_schedule: str = "cron(0 3 ? * MON *)"
    api_rate_limit_rps: int = 50
    api_burst_limit: int = 100
    # "auto": the pipeline approves a candidate that passes the gate and makes it champion;
    # "manual": it stays pending until a person approves and promotes it.
    approval_policy: str = "auto"
    # ValidateData: a majority class at or above this share of rows is a degenerate training set.
    max_majority_share: float = 0.95
    # ValidateData: drift limits against the champion's training set (label TVD; feature mean shift in stds).
    max_label_drift: float = 0.5
    max_mean_shift: float = 3.0
    # Training sets with at least this many rows train on AWS Batch instead of Lambda.
    batch_threshold_rows: int = 200_000
    # Training sets whose join can read at least this many committed feature rows are joined by Athena
    # (infra/constructs/athena.py), not in the building function's memory.
    athena_threshold_rows: int = 2_000_000
    # What one Athena query may scan (bytes; Athena's minimum is 10 MB): about $0.25 per query at $5/TB.
    athena_bytes_scanned_cutoff: int = 50 * 1024**3
    # Athena's query results (the training set is stored by the run itself) expire after this many days.
    athena_results_days: int = 7
    batch: BatchSizing = field(default_factory=BatchSizing)
    model_refresh_s: int = 60
    inference_max_records: int = 1000
    # Every prediction is captured (its ground truth can join it); the monitor's drift statistics read this share
    # of a window's captures, chosen by prediction id (the same predictions on every re-run).
    drift_sample_rate: float = 1.0
    # Safe rollout of a promoted model (CodeDeploy canary on alias `live`).
    canary_percent: int = 10
    canary_minutes: int = 5
    canary_max_error_rate: float = 0.05
    canary_max_p99_latency_ms: int = 1000
    canary_min_baseline_agreement: float = 0.5
    # "api_key" (API keys + usage plan) or "iam" (SigV4-signed callers with execute-api:Invoke).
    api_auth: str = "api_key"
    # An existing regional WAFv2 web ACL to associate with the API stage, or None.
    waf_web_acl_arn: str | None = None
    # Monitoring and retraining triggers (infra/constructs/monitoring.py)
    monitor_schedule: str = "rate(1 hour)"
    monitor_window_minutes: int = 60
    # Ground truth arrives late: quality looks back further than drift does.
    monitor_quality_window_minutes: int = 24 * 60
    monitor_min_rows: int = 200
    monitor_min_labelled: int = 30
    # Ground truth arriving up to this long after its prediction is joined into training data (the feedback view).
    feedback_max_label_delay_hours: int = 7 * 24
    # Captured predictions and raw feedback expire after this many days (what joined a label is kept in the
    # feedback view); they must outlive the label delay and the quality window, or labels could not join.
    capture_retention_days: int = 90
    drift_share_alarm: float = 0.5
    min_live_accuracy: float = 0.6
    api_p99_latency_ms: int = 2000
    api_5xx_rate_alarm: float = 0.05
    retrain_cooldown_s: int = 6 * 3600
    retrain_daily_budget: int = 2
    # Hardening and operations (issue 7).
    inference_reserved_concurrency: int | None = None
    # The server-error alarms judge a rate (5xx / requests) and only over periods with at least this many
    # requests, so a few bad requests from one caller cannot fire them; the rate limit is api_5xx_rate_alarm.
    alarm_min_requests: int = 20
    alarm_period_minutes: int = 5
    alarm_evaluation_periods: int = 1
    dead_letter_retention_days: int = 14
    kms_rotation_days: int = 365
    kms_deletion_window_days: int = 7
    # Feature pipeline: a batch with more bad rows than this fraction fails and stores nothing.
    feature_max_bad_row_fraction: float = 0.05
    feature_chunk_rows: int = 5000
    feature_step: FunctionSizing = field(default_factory=lambda: FunctionSizing(memory_mb=1024, timeout_s=300))

    def __post_init__(self) -> None:
        if not _STAGE_NAME.match(self.name):
            raise StageConfigError(f"name must match {_STAGE_NAME.pattern}, got {self.name!r}")
        if self.model_name and not re.match(r"^[a-z0-9][a-z0-9-]{0,62}$", self.model_name):
            raise StageConfigError(f"model_name must be lowercase letters, digits and '-', got {self.model_name!r}")
        if self.log_retention_days not in _LOG_RETENTION_DAYS:
            raise StageConfigError(
                f"log_retention_days must be one of {sorted(_LOG_RETENTION_DAYS)}, got {self.log_retention_days}"
            )
        self.training.validate("training")
        self.inference.validate("inference")
        self.pipeline_step.validate("pipeline_step")
        if not 60 <= self.pipeline_timeout_s <= 86400:
            raise StageConfigError(f"pipeline_timeout_s must be within 60..86400, got {self.pipeline_timeout_s}")
        if not _SCHEDULE.match(self.retrain_schedule):
            raise StageConfigError(
                "retrain_schedule must be an EventBridge rate(...) or cron(...) expression, "
                f"got {self.retrain_schedule!r}"
            )
        if self.api_rate_limit_rps <= 0 or self.api_burst_limit <= 0:
            raise StageConfigError("api_rate_limit_rps and api_burst_limit must be positive")
        if self.api_burst_limit < self.api_rate_limit_rps:
            raise StageConfigError("api_burst_limit must be at least api_rate_limit_rps")
        if self.approval_policy not in ("auto", "manual"):
            raise StageConfigError(f"approval_policy must be 'auto' or 'manual', got {self.approval_policy!r}")
        if not 0.0 < self.max_majority_share <= 1.0 or not 0.0 < self.max_label_drift <= 1.0:
            raise StageConfigError("max_majority_share and max_label_drift must be within (0, 1]")
        if self.max_mean_shift <= 0:
            raise StageConfigError(f"max_mean_shift must be positive, got {self.max_mean_shift}")
        if self.batch_threshold_rows < 1:
            raise StageConfigError(f"batch_threshold_rows must be positive, got {self.batch_threshold_rows}")
        if min(self.athena_threshold_rows, self.athena_results_days) < 1 or self.athena_bytes_scanned_cutoff < 10**7:
            raise StageConfigError(
                "athena_threshold_rows and athena_results_days must be positive and athena_bytes_scanned_cutoff "
                f"at least 10000000 (Athena's minimum), got {self.athena_threshold_rows}, {self.athena_results_days}, "
                f"{self.athena_bytes_scanned_cutoff}"
            )
        self.batch.validate()
        if not 0 <= self.model_refresh_s <= 3600:
            raise StageConfigError(f"model_refresh_s must be within 0..3600, got {self.model_refresh_s}")
        if self.api_auth not in ("api_key", "iam"):
            raise StageConfigError(f"api_auth must be 'api_key' or 'iam', got {self.api_auth!r}")
        if self.waf_web_acl_arn is not None and not re.match(
            r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/", self.waf_web_acl_arn
        ):
            raise StageConfigError(
                f"waf_web_acl_arn must be a regional WAFv2 web ACL ARN, got {self.waf_web_acl_arn!r}"
            )
        if not 0.0 < self.drift_sample_rate <= 1.0:
            raise StageConfigError(f"drift_sample_rate must be within (0, 1], got {self.drift_sample_rate}")
        if not 1 <= self.inference_max_records <= 10000:
            raise StageConfigError(f"inference_max_records must be within 1..10000, got {self.inference_max_records}")
        if not 0.0 <= self.feature_max_bad_row_fraction <= 1.0:
            raise StageConfigError(
                f"feature_max_bad_row_fraction must be within 0..1, got {self.feature_max_bad_row_fraction}"
            )
        if not 100 <= self.feature_chunk_rows <= 1_000_000:
            raise StageConfigError(f"feature_chunk_rows must be within 100..1000000, got {self.feature_chunk_rows}")
        self.feature_step.validate("feature_step")
        self._validate_canary()
        self._validate_monitoring()
        self._validate_hardening()

    def _validate_canary(self) -> None:
        if not 1 <= self.canary_percent <= 99:
            raise StageConfigError(f"canary_percent must be within 1..99, got {self.canary_percent}")
        if not 1 <= self.canary_minutes <= 2880:
            raise StageConfigError(f"canary_minutes must be within 1..2880, got {self.canary_minutes}")
        if not 0.0 < self.canary_max_error_rate < 1.0:
            raise StageConfigError(f"canary_max_error_rate must be within (0, 1), got {self.canary_max_error_rate}")
        if self.canary_max_p99_latency_ms <= 0:
            raise StageConfigError(f"canary_max_p99_latency_ms must be positive, got {self.canary_max_p99_latency_ms}")
        if not 0.0 < self.canary_min_baseline_agreement < 1.0:
            raise StageConfigError(
                f"canary_min_baseline_agreement must be within (0, 1), got {self.canary_min_baseline_agreement}"
            )

    def _validate_monitoring(self) -> None:
        if not _SCHEDULE.match(self.monitor_schedule):
            raise StageConfigError(
                "monitor_schedule must be an EventBridge rate(...) or cron(...) expression, "
                f"got {self.monitor_schedule!r}"
            )
        if not 5 <= self.monitor_window_minutes <= 7 * 24 * 60:
            raise StageConfigError(f"monitor_window_minutes must be within 5..10080, got {self.monitor_window_minutes}")
        interval = _rate_minutes(self.monitor_schedule)
        if interval is not None and interval > self.monitor_window_minutes:
            # Each run reads the window before it: a slower schedule leaves traffic unread, and the monitor's
            # heartbeat alarm (no run for two windows) would fire between runs.
            raise StageConfigError(
                f"monitor_schedule runs every {interval} minutes, longer than monitor_window_minutes "
                f"({self.monitor_window_minutes})"
            )
        if not self.monitor_window_minutes <= self.monitor_quality_window_minutes <= 7 * 24 * 60:
            raise StageConfigError(
                "monitor_quality_window_minutes must be within monitor_window_minutes..10080, "
                f"got {self.monitor_quality_window_minutes}"
            )
        if self.monitor_min_rows < 1 or self.monitor_min_labelled < 1:
            raise StageConfigError("monitor_min_rows and monitor_min_labelled must be at least 1")
        if not 0.0 < self.drift_share_alarm <= 1.0:
            raise StageConfigError(f"drift_share_alarm must be within (0, 1], got {self.drift_share_alarm}")
        if not 0.0 <= self.min_live_accuracy <= 1.0:
            raise StageConfigError(f"min_live_accuracy must be within 0..1, got {self.min_live_accuracy}")
        if self.api_p99_latency_ms <= 0 or not 0.0 < self.api_5xx_rate_alarm <= 1.0:
            raise StageConfigError("api_p99_latency_ms must be positive and api_5xx_rate_alarm within (0, 1]")
        if not 0 <= self.retrain_cooldown_s <= 30 * 86400:
            raise StageConfigError(f"retrain_cooldown_s must be within 0..2592000, got {self.retrain_cooldown_s}")
        delay = self.feedback_max_label_delay_hours
        if not 1 <= delay <= 24 * 366:
            raise StageConfigError(f"feedback_max_label_delay_hours must be within 1..{24 * 366}, got {delay}")
        if not 1 <= self.retrain_daily_budget <= 100:
            raise StageConfigError(f"retrain_daily_budget must be within 1..100, got {self.retrain_daily_budget}")

    def _validate_hardening(self) -> None:
        # Reserved concurrency is taken from the account's pool (1000 by default, as low as 10
        # in new accounts, where a reservation fails the deploy): opt-in, None = unreserved.
        if self.inference_reserved_concurrency is not None and not 1 <= self.inference_reserved_concurrency <= 1000:
            raise StageConfigError(
                "inference_reserved_concurrency must be None (unreserved) or within 1..1000, "
                f"got {self.inference_reserved_concurrency}"
            )
        if not 1 <= self.alarm_min_requests <= 100_000:
            raise StageConfigError(f"alarm_min_requests must be within 1..100000, got {self.alarm_min_requests}")
        if self.alarm_period_minutes not in (1, 5, 10, 15, 30, 60):
            raise StageConfigError(
                f"alarm_period_minutes must be one of 1, 5, 10, 15, 30, 60, got {self.alarm_period_minutes}"
            )
        if not 1 <= self.alarm_evaluation_periods <= 24:
            raise StageConfigError(
                f"alarm_evaluation_periods must be within 1..24, got {self.alarm_evaluation_periods}"
            )
        joinable_hours = self.feedback_max_label_delay_hours + self.monitor_quality_window_minutes / 60
        if self.capture_retention_days * 24 <= joinable_hours:
            raise StageConfigError(
                f"capture_retention_days must exceed the label delay plus the quality window "
                f"({joinable_hours:g} hours), got {self.capture_retention_days} days: labels could not join"
            )
        if not 1 <= self.dead_letter_retention_days <= 14:  # SQS keeps messages at most 14 days
            raise StageConfigError(
                f"dead_letter_retention_days must be within 1..14, got {self.dead_letter_retention_days}"
            )
        if not 90 <= self.kms_rotation_days <= 2560:  # KMS automatic rotation period bounds
            raise StageConfigError(f"kms_rotation_days must be within 90..2560, got {self.kms_rotation_days}")
        if not 7 <= self.kms_deletion_window_days <= 30:  # KMS pending-deletion window bounds
            raise StageConfigError(
                f"kms_deletion_window_days must be within 7..30, got {self.kms_deletion_window_days}"
            )

    @property
    def prefix(self) -> str:
        """Prefix for stack names: ``Mlops-dev``."""
        return f"Mlops-{self.name}"


STAGES: dict[str, StageConfig] = {
    "dev": StageConfig(name="dev"),
    "prod": StageConfig(
        name="prod",
        retain_data=True,
        log_retention_days=365,
        training=FunctionSizing(memory_mb=4096, timeout_s=900),
        inference=FunctionSizing(memory_mb=2048, timeout_s=10),
        api_rate_limit_rps=200,
        api_burst_limit=400,
        drift_sample_rate=0.2,
        capture_retention_days=400,
        kms_deletion_window_days=30,
        canary_minutes=10,
        approval_policy="manual",
    ),
}


def stage_config(name: str) -> StageConfig:
    """The config of stage ``name``; an unknown stage is a clear error."""
    try:
        return STAGES[name]
    except KeyError:
        raise StageConfigError(f"unknown stage {name!r}; known stages: {', '.join(sorted(STAGES))}") from None
