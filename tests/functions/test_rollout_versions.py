"""The deployer's pinned function versions: reused when one exists, else published with a pin that leaves $LATEST."""

from __future__ import annotations

import copy
from typing import Any

from functions.rollout.deployments import ServingFunction

TEMPLATE_ENV = {"MLOPS_MODEL_NAME": "m", "MLOPS_REGISTRY_TABLE": "t"}


class FakeLambda:
    """Lambda's versions as the deployer sees them: $LATEST, published copies, revision ids; ``meddle`` plays a
    concurrent `cdk deploy` changing $LATEST right after the publish."""

    def __init__(self, meddle: dict[str, str] | None = None) -> None:
        self.latest: dict[str, Any] = {"Version": "$LATEST", "CodeSha256": "c1", "RevisionId": "r0"}
        self.latest["Environment"] = {"Variables": dict(TEMPLATE_ENV)}
        self.versions: list[dict[str, Any]] = []
        self.updates = 0
        self._meddle = meddle

    def get_function_configuration(self, FunctionName: str, Qualifier: str = "$LATEST") -> dict[str, Any]:
        if Qualifier == "$LATEST":
            return copy.deepcopy(self.latest)
        return copy.deepcopy(next(v for v in self.versions if v["Version"] == Qualifier))

    def update_function_configuration(self, FunctionName: str, Environment: dict[str, Any], **kw: Any) -> None:
        assert kw.get("RevisionId") == self.latest["RevisionId"], "an update must name the revision it read"
        self.updates += 1
        self.latest["Environment"] = copy.deepcopy(Environment)
        self.latest["RevisionId"] = f"r{self.updates}"

    def publish_version(self, FunctionName: str, Description: str, **kw: Any) -> dict[str, Any]:
        assert kw.get("RevisionId") == self.latest["RevisionId"]
        published = {**copy.deepcopy(self.latest), "Version": str(len(self.versions) + 1), "Description": Description}
        self.versions.append(published)
        if self._meddle is not None:
            self.latest["Environment"] = {"Variables": dict(self._meddle)}
            self.latest["RevisionId"] = "deploy"
        return copy.deepcopy(published)

    def get_waiter(self, name: str) -> Any:
        class Waiter:
            def wait(self, FunctionName: str) -> None:
                return None

        return Waiter()

    def get_paginator(self, name: str) -> Any:
        versions = [self.latest, *self.versions]

        class Paginator:
            def paginate(self, FunctionName: str) -> list[dict[str, Any]]:
                return [{"Versions": copy.deepcopy(versions)}]

        return Paginator()


def test_a_missing_pinned_version_is_published_and_latest_given_back_its_template_environment() -> None:
    fake = FakeLambda()
    version = ServingFunction(fake, "fn", "live").version_pinned_to("m", 7)
    assert fake.versions[-1]["Environment"]["Variables"] == {**TEMPLATE_ENV, "MLOPS_MODEL_VERSION": "7"}
    assert version == "1" and fake.latest["Environment"]["Variables"] == TEMPLATE_ENV
    # And a second rollout of the same model version (a rollback to it) reuses that version: $LATEST untouched
    updates = fake.updates
    assert ServingFunction(fake, "fn", "live").version_pinned_to("m", 7) == "1" and fake.updates == updates


def test_a_deploy_that_changed_latest_meanwhile_is_never_overwritten() -> None:
    deployed = {**TEMPLATE_ENV, "MLOPS_MAX_RECORDS": "500"}
    fake = FakeLambda(meddle=deployed)
    ServingFunction(fake, "fn", "live").version_pinned_to("m", 7)
    assert fake.latest["Environment"]["Variables"] == deployed and fake.updates == 1
