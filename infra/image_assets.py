"""Build the stack's container images once, as ``cdk deploy`` would, and check a deploy ships exactly those.

``cdk deploy`` builds each Docker image asset of the cloud assembly (``*.assets.json``) as
``cdkasset-<asset id>``, unless an image of that name already exists locally, then pushes it. CI
(``.github/workflows/ci.yml``) runs ``build``: the same ``docker build`` per asset (directory,
Dockerfile, platform, build arguments and contexts from the manifest), once, saved with each image's
digest (its image ID: the sha256 of its config, which names every layer's content). The deploy jobs
load that file, run ``verify`` (the assembly they deploy names exactly the built assets, and the loaded
images are the recorded digests; prod also compares them with the digests dev deployed), and
``cdk deploy`` then pushes those images instead of building its own.

    python -m infra.image_assets build cdk.out --out images
    python -m infra.image_assets verify cdk.out images/images.json [--expect '<digests JSON of dev>']
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

DIGESTS_FILE = "images.json"
IMAGES_FILE = "images.tar"


class ImageAssetError(RuntimeError):
    """The images built, loaded or expected are not the ones the assembly deploys; the message says which."""


@dataclass(frozen=True)
class ImageBuild:
    """One ``docker build`` of a Docker image asset, as cdk-assets runs it."""

    asset_id: str
    directory: Path
    command: tuple[str, ...]

    @property
    def tag(self) -> str:
        return local_tag(self.asset_id)


def local_tag(asset_id: str) -> str:
    """The local image name cdk-assets builds an asset as, and reuses when it exists."""
    return f"cdkasset-{asset_id.lower()}"


def image_builds(assembly: Path) -> list[ImageBuild]:
    """Every Docker image asset of the assembly's stacks, each once, with the build cdk-assets would run."""
    builds: dict[str, ImageBuild] = {}
    for manifest in sorted(assembly.glob("*.assets.json")):
        for asset_id, asset in json.loads(manifest.read_text()).get("dockerImages", {}).items():
            source = asset["source"]
            if "directory" not in source:
                raise ImageAssetError(f"{manifest.name}: image asset {asset_id} is not built from a directory")
            command = ["docker", "build", "--tag", local_tag(asset_id)]
            for name, value in sorted(source.get("dockerBuildArgs", {}).items()):
                command += ["--build-arg", f"{name}={value}"]
            for name, value in sorted(source.get("dockerBuildContexts", {}).items()):
                command += ["--build-context", f"{name}={value}"]
            if "dockerFile" in source:
                command += ["--file", source["dockerFile"]]
            if "platform" in source:
                command += ["--platform", source["platform"]]
            builds[asset_id] = ImageBuild(asset_id, assembly / source["directory"], (*command, "."))
    if not builds:
        raise ImageAssetError(f"{assembly}: no Docker image asset (is it a synthesized cloud assembly?)")
    return list(builds.values())


def check_digests(
    builds: list[ImageBuild],
    recorded: Mapping[str, str],
    image_id: Callable[[str], str | None],
    expected: Mapping[str, str] | None = None,
) -> None:
    """The assembly's assets are exactly the recorded ones, each loaded image is its recorded digest and, with
    ``expected`` (what dev deployed), the same digests again; raises ``ImageAssetError`` naming the first gap."""
    wanted = {b.asset_id for b in builds}
    if wanted != set(recorded):
        raise ImageAssetError(
            f"the assembly deploys image assets {sorted(wanted)}, the built images are {sorted(recorded)}: "
            "the sources changed since the build"
        )
    for build in builds:
        loaded = image_id(build.tag)
        if loaded != recorded[build.asset_id]:
            raise ImageAssetError(f"{build.tag}: loaded image {loaded} is not the built {recorded[build.asset_id]}")
    if expected is not None and dict(expected) != dict(recorded):
        raise ImageAssetError(f"these images {dict(recorded)} are not the ones dev deployed {dict(expected)}")


def _docker_image_id(tag: str) -> str | None:
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def build(assembly: Path, out: Path) -> dict[str, str]:
    """Build every image asset, save them to ``out/images.tar`` and their digests to ``out/images.json``."""
    builds = image_builds(assembly)
    digests: dict[str, str] = {}
    for image in builds:
        print(f"building {image.tag}: {' '.join(image.command)} (in {image.directory})", flush=True)
        subprocess.run(image.command, cwd=image.directory, check=True)
        built = _docker_image_id(image.tag)
        if built is None:
            raise ImageAssetError(f"{image.tag}: docker build succeeded but the image is not there")
        digests[image.asset_id] = built
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["docker", "save", "--output", str(out / IMAGES_FILE), *(b.tag for b in builds)], check=True)
    (out / DIGESTS_FILE).write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n")
    return digests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.image_assets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="docker build every image asset as cdk deploy would, and save them")
    build_cmd.add_argument("assembly", type=Path)
    build_cmd.add_argument("--out", type=Path, required=True)
    verify_cmd = sub.add_parser("verify", help="the loaded images are the built ones the assembly deploys")
    verify_cmd.add_argument("assembly", type=Path)
    verify_cmd.add_argument("digests", type=Path)
    verify_cmd.add_argument("--expect", help="the digests JSON another deploy (dev) shipped: must be equal")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            digests = build(args.assembly, args.out)
        else:
            digests = json.loads(args.digests.read_text())
            expected = json.loads(args.expect) if args.expect is not None else None
            check_digests(image_builds(args.assembly), digests, _docker_image_id, expected)
    except (ImageAssetError, subprocess.CalledProcessError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # One line for $GITHUB_OUTPUT: the digests this build or deploy ships.
    print(f"digests={json.dumps(digests, sort_keys=True, separators=(',', ':'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
