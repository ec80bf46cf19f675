"""Buckets: raw data, pipeline/model artifacts, and the access-log bucket both log to."""

from __future__ import annotations

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.encryption import grant as grant_key
from infra.nag import acknowledge


class Storage(Construct):
    """Private, encrypted, TLS-only, versioned buckets with server access logs."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        # S3 server access logging cannot deliver to an SSE-KMS bucket: this one stays SSE-S3.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            removal_policy=removal,
            # Access logs are kept as long as the stage keeps its other logs.
            lifecycle_rules=[
                s3.LifecycleRule(id="ExpireAccessLogs", expiration=Duration.days(config.log_retention_days))
            ],
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the access-log bucket itself; logging it into itself would loop.",
        )
        self.data = self._bucket("Data", "data/", removal)
        self.artifacts = self._bucket("Artifacts", "artifacts/", removal)
        # Prediction capture and ground-truth feedback (serving writes, monitoring reads):
        #   captures/model=<name>/date=YYYY-MM-DD/hour=HH/<uuid>.jsonl
        #   feedback/date=YYYY-MM-DD/<uuid>.jsonl
        self.captures = self._bucket("Captures", "captures/", removal)
        # Captures and raw feedback expire (a prediction's capture is read by the monitor's windows and the
        # feedback join, both bounded in time); their noncurrent versions go a week after.
        self.captures.add_lifecycle_rule(
            id="ExpireCapturesAndFeedback",
            expiration=Duration.days(config.capture_retention_days),
            noncurrent_version_expiration=Duration.days(7),
        )
        # (S3 takes the delete markers expiry leaves behind away only in a rule of their own)
        self.captures.add_lifecycle_rule(id="RemoveExpiredDeleteMarkers", expired_object_delete_marker=True)

    def _bucket(self, construct_id: str, log_prefix: str, removal: RemovalPolicy) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS if self._key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=self._key,
            # One data key per bucket and period instead of one KMS call per object.
            bucket_key_enabled=True if self._key else None,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=log_prefix,
            removal_policy=removal,
        )

    def grant_read_raw(self, grantee: iam.IGrantable) -> None:
        """Read raw input files under ``raw/`` of the data bucket."""
        self._grant_prefix(
            grantee,
            self.data,
            "raw/",
            ["s3:GetObject"],
            "Raw input files are named by whoever lands them; the grant is limited to raw/.",
        )

    def grant_run_artifacts(self, grantee: iam.IGrantable, *, write: bool) -> None:
        """Read (and optionally write) the per-run artifacts under ``runs/``."""
        actions = ["s3:GetObject", "s3:PutObject"] if write else ["s3:GetObject"]
        self._grant_prefix(
            grantee,
            self.artifacts,
            "runs/",
            actions,
            "Artifact keys contain the run id, unknown at deploy time; the grant is limited to runs/.",
        )

    def grant_batch(self, function: iam.IGrantable, machine: iam.IGrantable) -> None:
        """Batch inference: list and read ``batch-input/`` of the data bucket, write ``batch/`` artifacts.

        An entity file's joined rows are partitions under ``batch/`` (listed by the Map, read by the function);
        the Map's ResultWriter writes its result files there; the function reads them and writes captures.
        """
        machine.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.data.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["batch-input/*"]}},
            )
        )
        machine.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.artifacts.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["batch/*"]}},
            )
        )
        self._grant_prefix(
            machine,
            self.artifacts,
            "batch/",
            ["s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
            "The Map's result files are keyed by execution and map run id; the grant is limited to batch/.",
        )
        # ResolveModel counts the objects under the input prefix (at least one, at most one batch's worth).
        function.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.data.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["batch-input/*"]}},
            )
        )
        self._grant_prefix(
            function,
            self.captures,
            "captures/",
            ["s3:PutObject"],
            "Batch captures are keyed by model, hour and run; the grant is limited to captures/.",
        )
        self._grant_prefix(
            function,
            self.data,
            "batch-input/",
            ["s3:GetObject"],
            "Batch input partitions are named by their producer; the grant is limited to batch-input/.",
        )
        self._grant_prefix(
            function,
            self.artifacts,
            "batch/",
            ["s3:GetObject", "s3:PutObject"],
            "Batch outputs are keyed by execution id; the grant is limited to batch/.",
        )

    def grant_baselines_write(self, grantee: iam.IGrantable) -> None:
        """Registration stores each approved candidate's drift baseline under ``baselines/``."""
        self._grant_prefix(
            grantee,
            self.artifacts,
            "baselines/",
            ["s3:PutObject"],
            "Baselines are keyed by model version, known only at registration; the grant is limited to baselines/.",
        )

    def grant_monitoring(self, grantee: iam.IGrantable) -> None:
        """The monitor: read captures and feedback, read baselines, write monitor runs and reports."""
        for prefix in ("captures/", "feedback/"):
            self._grant_prefix(
                grantee,
                self.captures,
                prefix,
                ["s3:GetObject"],
                f"Capture objects are named by hour and uuid at serving time; the grant is limited to {prefix}.",
            )
        self._grant_prefix(
            grantee,
            self.artifacts,
            "baselines/",
            ["s3:GetObject"],
            "Baselines are keyed by model version, unknown at deploy time; the grant is limited to baselines/.",
        )
        self._grant_prefix(
            grantee,
            self.artifacts,
            "monitoring/",
            ["s3:PutObject"],
            "Monitor runs are keyed by run id, unknown at deploy time; the grant is limited to monitoring/.",
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.captures.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["captures/*", "feedback/*"]}},
            )
        )
        # Without ListBucket a missing baseline reads as AccessDenied instead of NoSuchKey.
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.artifacts.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["baselines/*"]}},
            )
        )

    def grant_monitor_runs_read(self, grantee: iam.IGrantable) -> None:
        """The retrain guard: list and read monitor runs, the evidence it links an alarm trigger to."""
        self._grant_prefix(
            grantee,
            self.artifacts,
            "monitoring/",
            ["s3:GetObject"],
            "Monitor runs are keyed by run id, unknown at deploy time; the grant is limited to monitoring/.",
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.artifacts.bucket_arn],
                conditions={"StringLike": {"s3:prefix": ["monitoring/*"]}},
            )
        )

    def _grant_prefix(
        self, grantee: iam.IGrantable, bucket: s3.Bucket, prefix: str, actions: list[str], reason: str
    ) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")])
        )
        if bucket.encryption_key is not None:
            grant_key(bucket.encryption_key, grantee, write="s3:PutObject" in actions)
        bucket_resource = bucket.node.default_child
        assert isinstance(bucket_resource, CfnResource)
        logical_id = Stack.of(self).get_logical_id(bucket_resource)
        role = grantee.grant_principal
        assert isinstance(role, iam.Role), "grants go to roles created by FunctionFactory"
        acknowledge(role, f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{prefix}*]", reason)
