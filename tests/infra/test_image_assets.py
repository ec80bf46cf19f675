"""The CI image build is the build cdk deploy would run, and a deploy ships only the images it built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.image_assets import ImageAssetError, check_digests, image_builds, main


def test_each_image_asset_is_built_once_as_cdk_assets_builds_it(assembly: Path) -> None:
    # Given the dev assembly's image assets, as cdk-assets reads them
    assets = {
        asset_id: asset["source"]
        for manifest in assembly.glob("*.assets.json")
        for asset_id, asset in json.loads(manifest.read_text()).get("dockerImages", {}).items()
    }
    # When the builds are derived
    builds = image_builds(assembly)
    # Then there is one per asset, tagged as cdk-assets tags its local image, with the manifest's options
    assert sorted(b.asset_id for b in builds) == sorted(assets)
    for build in builds:
        source = assets[build.asset_id]
        command = list(build.command)
        assert command[:4] == ["docker", "build", "--tag", f"cdkasset-{build.asset_id}"] and command[-1] == "."
        assert build.directory == assembly / source["directory"]
        assert command[command.index("--file") + 1] == source["dockerFile"]
        if "platform" in source:
            assert command[command.index("--platform") + 1] == source["platform"]
        for name, value in source.get("dockerBuildArgs", {}).items():
            assert f"{name}={value}" in command
        for name, value in source.get("dockerBuildContexts", {}).items():
            assert f"{name}={value}" in command
    assert {b.command[b.command.index("--file") + 1] for b in builds} == {
        "functions/Dockerfile",
        "functions/Dockerfile.serving",
    }


def test_a_deploy_refuses_images_that_are_not_the_built_or_the_dev_deployed_ones(assembly: Path) -> None:
    builds = image_builds(assembly)
    built = {b.asset_id: f"sha256:{i:064x}" for i, b in enumerate(builds)}
    loaded = {f"cdkasset-{k}": v for k, v in built.items()}
    # The loaded images are the built ones: accepted, with or without the same digests from dev
    check_digests(builds, built, loaded.get)
    check_digests(builds, built, loaded.get, expected=dict(built))
    # A source changed since the build: the assembly names another asset
    with pytest.raises(ImageAssetError, match="the sources changed since the build"):
        check_digests(builds, dict(list(built.items())[1:]), loaded.get)
    # A loaded image is not the one built (or missing)
    with pytest.raises(ImageAssetError, match="is not the built"):
        check_digests(builds, built, {**loaded, f"cdkasset-{builds[0].asset_id}": "sha256:other"}.get)
    # prod: the images are not the digests dev deployed
    with pytest.raises(ImageAssetError, match="not the ones dev deployed"):
        check_digests(builds, built, loaded.get, expected={**built, builds[0].asset_id: "sha256:else"})


def test_verify_without_the_dev_digests_is_a_one_line_error(
    assembly: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given digests that name no asset of the assembly, and an empty --expect (dev's output missing)
    digests = tmp_path / "images.json"
    digests.write_text("{}")
    assert main(["verify", str(assembly), str(digests), "--expect", ""]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
