"""The rates the server-error alarms judge: metric math over an error count and a request count."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch


def server_error_rate(
    *, errors: cloudwatch.IMetric, requests: cloudwatch.IMetric, min_requests: int, period: Duration
) -> cloudwatch.MathExpression:
    """errors / requests per period, judged only over periods of at least ``min_requests`` requests (else 0): a
    few bad requests from one caller cannot raise it. ``errors`` has no datapoint where nothing failed (FILL)."""
    return cloudwatch.MathExpression(
        expression=f"IF(requests >= {min_requests}, FILL(errors, 0) / requests, 0)",
        using_metrics={"errors": errors, "requests": requests},
        label=f"5xx share (periods of at least {min_requests} requests)",
        period=period,
    )
