"""The layout's rules: one package per paper component, pure modules apart from the one that touches AWS."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
COMPONENTS = ("feature_store", "training", "registry", "metadata", "serving", "monitoring", "retraining", "rollout")
# The modules allowed to touch AWS (boto3 clients passed in, ClientError translated); every other module of a
# component package is pure: pandas, pyarrow, numpy, scikit-learn, no boto3, no environment.
AWS_MODULES = {
    "feature_store": {
        "offline_store",
        "online_store",
        "materialization",
        "batches",
        "training_sets",
        "steps",
        "athena",
    },
    "training": {"training_sets", "steps"},
    "registry": {"model_registry", "model_store", "champion", "alias_events", "alias_lineage", "identity"},
    "metadata": {"metadata_store"},
    "serving": {"capture", "steps"},
    "monitoring": {"monitor_store"},
    "retraining": {"guard_store", "trigger_evidence"},
    "rollout": {"deployments"},
}
BANNED = {"boto3", "botocore", "aws_lambda_powertools", "moto"}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _pure_modules() -> list[Path]:
    return [
        path
        for component in COMPONENTS
        for path in sorted((FUNCTIONS / component).glob("*.py"))
        if path.stem not in AWS_MODULES[component]
    ]


def test_every_component_is_a_package_of_its_own() -> None:
    for component in COMPONENTS:
        assert (FUNCTIONS / component / "__init__.py").is_file(), component
        for module in AWS_MODULES[component]:
            assert (FUNCTIONS / component / f"{module}.py").is_file(), f"{component}.{module}"


@pytest.mark.parametrize("path", _pure_modules(), ids=lambda p: f"{p.parent.name}.{p.stem}")
def test_pure_modules_never_touch_aws_or_the_environment(path: Path) -> None:
    tree = ast.parse(path.read_text())
    aws_modules = {f"functions.{c}.{m}" for c, ms in AWS_MODULES.items() for m in ms}
    aws_modules |= {"functions.shared.clients", "functions.shared.aws_errors", "functions.shared.objects",
                    "functions.shared.dynamo_items", "functions.shared.settings"}  # fmt: skip
    imported = _imports(tree)
    assert not {name.split(".")[0] for name in imported} & BANNED, f"{path} imports AWS libraries"
    assert not imported & aws_modules, f"{path} imports an AWS module: {sorted(imported & aws_modules)}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
            pytest.fail(f"{path} reads the environment")
