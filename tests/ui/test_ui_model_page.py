"""A model's page after two champions: versions with approval status and accuracy (charted), the alias history
newest first with who and why, and a roll-back form that names the version it goes back to (over a registry
stand-in, no cloud)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient

from functions.registry.model_registry import AliasChange, ModelVersion
from mlops.ui.app import create_app
from mlops.ui.csrf import FIELD

MODEL = "m"


def version(number: int, accuracy: float, approval: str) -> ModelVersion:
    return ModelVersion(MODEL, number, f"s3://b/v{number}", "a" * 64, {"accuracy": accuracy}, {}, {}, "s3://b/d",
                        "d" * 64, f"run-{number}", "REGISTERED", f"2026-05-0{number}T10:00:00+00:00",
                        approval_status=approval)  # fmt: skip


class Registry:
    versions = (version(1, 0.70, "approved"), version(2, 0.74, "approved"), version(3, 0.60, "rejected"))
    history = (
        AliasChange(MODEL, "champion", "c1", "2026-05-01T11:00:00+00:00", "arn:pipeline", "run-1 passed the gate", 1),
        AliasChange(MODEL, "champion", "c2", "2026-05-02T11:00:00+00:00", "arn:aws:sts::1:user/ana", "v2 wins", 2, 1),
    )

    def list_models(self) -> list[str]:
        return [MODEL]

    def list_versions(self, name: str) -> list[ModelVersion]:
        return list(self.versions)

    def aliases(self, name: str) -> dict[str, int]:
        return {"champion": 2}

    def alias_history(self, name: str, alias: str) -> list[AliasChange]:
        return list(self.history)


def test_the_model_page_lists_versions_charts_accuracy_and_offers_rolling_the_champion_back_to_v1() -> None:
    backend: Any = SimpleNamespace(registry=Registry())
    with TestClient(create_app(backend, who=lambda: "arn:aws:sts::1:user/ana"), base_url="http://127.0.0.1") as client:
        page = client.get(f"/models/{MODEL}").text
    rows = re.findall(r'<tr data-version="(\d)">(.*?)</tr>', page, flags=re.S)
    assert [number for number, _ in rows] == ["3", "2", "1"]  # newest first
    assert "rejected" in rows[0][1] and "champion" in rows[1][1] and "0.74" in rows[1][1]
    history = re.search(r'data-alias="champion">(.*?)</table>', page, flags=re.S)
    assert history is not None
    assert history.group(1).index("v2 wins") < history.group(1).index("run-1 passed the gate")
    [form] = re.findall(r'<form class="action" method="post" action="/models/m/rollback".*?</form>', page, flags=re.S)
    assert f'name="{FIELD}"' in form and 'name="alias" value="champion"' in form and "roll champion back to v1" in form
    assert 'id="versions-chart"' in page and "holdout accuracy by version" in page
