"""Serving runs from its own image: the inference functions and the pre-traffic hooks, nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SERVING_HANDLERS = {"functions.handlers.inference.handler", "functions.handlers.pre_traffic_hook.handler"}


def _images(assembly: Path) -> dict[str, dict[str, Any]]:
    """Image asset hash -> its source (Dockerfile, build contexts, build args), from the asset manifests."""
    images: dict[str, dict[str, Any]] = {}
    for manifest in assembly.glob("*.assets.json"):
        for asset_hash, image in json.loads(manifest.read_text()).get("dockerImages", {}).items():
            images[asset_hash] = image["source"]
    return images


def _image_of(function: dict[str, Any]) -> str:
    """The asset hash a function's ImageUri ends with (``...:<hash>``)."""
    return str(function["Properties"]["Code"]["ImageUri"]["Fn::Sub"]).rsplit(":", 1)[-1]


@pytest.mark.parametrize("name", ["assembly", "stocks_assembly"])
def test_inference_functions_and_hooks_run_the_serving_image_and_the_rest_the_full_one(
    name: str, request: pytest.FixtureRequest
) -> None:
    # Given a synthesized example (no Docker: the images are only staged)
    assembly = Path(request.getfixturevalue(name))
    images = _images(assembly)
    template = json.loads((assembly / "Mlops-dev.template.json").read_text())
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]

    # Then every inference function and pre-traffic hook runs the serving image, without the project ...
    by_handler = {(f["Properties"]["ImageConfig"]["Command"][0], _image_of(f)) for f in functions}
    serving = [images[h] for handler, h in by_handler if handler in SERVING_HANDLERS]
    full = [images[h] for handler, h in by_handler if handler not in SERVING_HANDLERS]
    assert serving and full
    assert all(s["dockerFile"] == "functions/Dockerfile.serving" and not s.get("dockerBuildContexts") for s in serving)
    # ... and every other function the full image, which ships the project
    assert all(s["dockerFile"] == "functions/Dockerfile" and "project" in s["dockerBuildContexts"] for s in full)
    serving_env = [
        f["Properties"]["Environment"]["Variables"]
        for f in functions
        if f["Properties"]["ImageConfig"]["Command"][0] in SERVING_HANDLERS
    ]
    assert all("MLOPS_PROJECT_DIR" not in env for env in serving_env)
