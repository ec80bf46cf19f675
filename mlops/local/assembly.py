"""Read a synthesized CDK cloud assembly (``cdk.out``): its stacks and templates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class AssemblyError(ValueError):
    """The cloud assembly is missing or not what the local cloud can run."""


@dataclass(frozen=True)
class StackTemplate:
    name: str
    template: dict[str, Any]
    dependencies: tuple[str, ...]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template.get("Resources", {})
        return resources


def load_assembly(directory: Path) -> list[StackTemplate]:
    """The stacks of the assembly in ``directory``, dependencies first."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise AssemblyError(f"no cloud assembly at {directory} (run `make synth` first)")
    manifest = json.loads(manifest_path.read_text())
    stacks: dict[str, StackTemplate] = {}
    for name, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        template_file = artifact["properties"]["templateFile"]
        template = json.loads((directory / template_file).read_text())
        dependencies = tuple(d for d in artifact.get("dependencies", []) if not d.endswith(".assets"))
        stacks[name] = StackTemplate(name=name, template=template, dependencies=dependencies)
    if not stacks:
        raise AssemblyError(f"the cloud assembly at {directory} has no stacks")
    ordered: list[StackTemplate] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if any(s.name == name for s in ordered):
            return
        if name in visiting:
            raise AssemblyError(f"stack dependency cycle through {name}")
        visiting.add(name)
        for dependency in stacks[name].dependencies:
            if dependency in stacks:
                visit(dependency)
        visiting.discard(name)
        ordered.append(stacks[name])

    for name in sorted(stacks):
        visit(name)
    return ordered


def image_build_contexts(directory: Path) -> dict[str, str]:
    """The named build contexts of the assembly's container images (``project`` -> its folder here)."""
    contexts: dict[str, str] = {}
    for manifest in sorted(directory.glob("*.assets.json")):
        for image in json.loads(manifest.read_text()).get("dockerImages", {}).values():
            contexts.update(image.get("source", {}).get("dockerBuildContexts", {}))
    return contexts
