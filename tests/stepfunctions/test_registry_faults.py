"""Fault injection at the registry's steps, on the local cloud: a retried Register and a failure after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from functions.shared.errors import ModelNotApprovedError, ModelNotFoundError, RegistryConflictError
from mlops.local import LocalCloud
from tests.helpers import metadata_of, registry_of, run_training, upload_raw

MODEL = "seattle-weather"


@contextmanager
def handler_of(cloud: LocalCloud, step: str, handler: str) -> Iterator[None]:
    function = cloud.runtime.functions[cloud.function_name(f"Functions{step}")]
    real, function.handler = function.handler, handler
    try:
        yield
    finally:
        function.handler = real


def test_register_retried_after_a_throttled_write_registers_one_version(cloud: LocalCloud) -> None:
    # Given a Register whose first attempt writes the version, then is throttled on its lineage write
    with handler_of(cloud, "Register", "tests.fixtures.registry_faults.register_throttled_once"):
        # When the pipeline runs (Step Functions retries Register on TransientStoreError)
        result = run_training(cloud, upload_raw(cloud))
    # Then the run succeeds with ONE version: the retry found the run's version and finished its work
    assert result.status == "SUCCEEDED", result.cause
    run = metadata_of(cloud).get_run(result.name)
    attempts = [s.status for s in run.steps if s.step == "Register"]
    assert attempts == ["FAILED", "SUCCEEDED"], attempts
    versions = registry_of(cloud).list_versions(MODEL)
    assert [(v.version, v.run_id) for v in versions] == [(1, result.name)]
    assert registry_of(cloud).resolve_alias(MODEL, "champion").version == 1
    assert metadata_of(cloud).lineage(MODEL, 1).of_kind("run")[0].id == f"run:{result.name}"


def test_a_failure_after_promote_moved_champion_leaves_no_usable_version(cloud: LocalCloud) -> None:
    # Given a Promote that approves the run's version, moves champion to it and announces it, then fails
    with handler_of(cloud, "Promote", "tests.fixtures.registry_faults.promote_then_fail"):
        # When the pipeline runs
        result = run_training(cloud, upload_raw(cloud))
    # Then the run fails, and its failure path withdrew the version: rejected under the recorder's AWS identity
    assert (result.status, result.error) == ("FAILED", "InjectedFailure")
    assert metadata_of(cloud).get_run(result.name).status == "FAILED"
    registry = registry_of(cloud)
    [version] = registry.list_versions(MODEL)
    assert version.run_id == result.name and version.approval_status == "rejected"
    assert "RunRecorder" in version.approval_by and f"run {result.name} failed" in version.approval_reason
    # And champion, first set by that run, is unset again (audited), so nothing serves or can be aliased from it
    with pytest.raises(ModelNotFoundError):
        registry.resolve_alias(MODEL, "champion")
    history = registry.alias_history(MODEL, "champion")
    assert [(c.from_version, c.to_version) for c in history] == [(None, 1), (1, None)]
    with pytest.raises(RegistryConflictError, match="already rejected"):
        registry.approve(MODEL, 1, by="someone", reason="looks fine")
    with pytest.raises(ModelNotApprovedError):
        registry.move_alias(MODEL, "champion", 1, by="someone", reason="try")
    unaliased = [e for e in metadata_of(cloud).lineage(MODEL, 1).edges if e.relation == "unaliased"]
    assert len(unaliased) == 1
    # And the canary Promote's announcement started never shifts traffic to the withdrawn version
    events = cloud.codedeploy.step()
    assert [e["detail"]["state"] for e in events] == ["START", "FAILURE"]
    rollout = metadata_of(cloud).node(f"deployment:{events[0]['detail']['deploymentId']}")
    assert rollout.attributes["smoke_test"] == "failed" and rollout.attributes["status"] == "Failed"
    assert rollout.attributes["smoke_test_problems"] == [
        f"model '{MODEL}' version 1 is rejected, not approved: no traffic shifts to it"
    ]
