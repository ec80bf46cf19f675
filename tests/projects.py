"""The shipped example projects, loaded once per test process (as a deployment loads its project)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from functions.project import Project, load_project

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SEATTLE_DIR = EXAMPLES / "seattle_weather"
WAF_ACL = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/x/1"
# The dev stage with every option tests/cicd/test_stage_config.py reads changed from its default (a shared
# assembly of its own: conftest.SHARED_ASSEMBLIES).
TUNED_DEV = {
    "inference_reserved_concurrency": 20,
    "alarm_min_requests": 50,
    "api_5xx_rate_alarm": 0.1,
    "alarm_period_minutes": 1,
    "alarm_evaluation_periods": 2,
    "api_rate_limit_rps": 7,
    "api_burst_limit": 9,
    "api_auth": "iam",
    "waf_web_acl_arn": WAF_ACL,
}


@cache
def example(name: str) -> Project:
    return load_project(EXAMPLES / name)


def seattle() -> Project:
    """The demo project: one station's daily weather, classified."""
    return example("seattle_weather")
