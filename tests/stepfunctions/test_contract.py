"""Parity contract between the synthesized template, the ASL files and the handler code."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from functions.shared import errors as domain_errors
from infra.asl import ASL_DIR, placeholders
from mlops.local.assembly import load_assembly

AWS_ERROR_PREFIXES = ("States.", "Lambda.", "Batch.", "DynamoDB.", "SQS.", "SNS.")


def resources(example_assembly: Path, rtype: str) -> dict[str, dict[str, Any]]:
    return {
        f"{stack.name}/{logical_id}": spec
        for stack in load_assembly(example_assembly)
        for logical_id, spec in stack.resources.items()
        if spec["Type"] == rtype
    }


def definition_text(spec: dict[str, Any]) -> str:
    definition = spec["Properties"]["DefinitionString"]
    if isinstance(definition, dict):  # Fn::Join of literal parts
        parts = definition["Fn::Join"][1]
        assert all(isinstance(p, str) for p in parts), "definition must not embed tokens outside substitutions"
        return "".join(parts)
    assert isinstance(definition, str)
    return definition


def test_every_asl_placeholder_is_substituted_by_the_stack(example_assembly: Path) -> None:
    machines = resources(example_assembly, "AWS::StepFunctions::StateMachine")
    assert machines
    for where, spec in machines.items():
        used = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", definition_text(spec)))
        substituted = set(spec["Properties"].get("DefinitionSubstitutions", {}))
        assert used == substituted, f"{where}: used {sorted(used)}, substituted {sorted(substituted)}"


def test_every_asl_file_is_deployed(example_assembly: Path) -> None:
    comments = {
        json.loads(re.sub(r"\$\{[A-Za-z0-9]+\}", "x", definition_text(spec)))["Comment"]
        for spec in resources(example_assembly, "AWS::StepFunctions::StateMachine").values()
    }
    for path in ASL_DIR.glob("*.asl.json"):
        assert json.loads(path.read_text())["Comment"] in comments, f"{path.name} is not deployed by any stack"


@pytest.fixture
def functions_in_template(example_assembly: Path) -> dict[str, dict[str, Any]]:
    return resources(example_assembly, "AWS::Lambda::Function")


def handler_of(spec: dict[str, Any]) -> str:
    props = spec["Properties"]
    return str(props["ImageConfig"]["Command"][0] if props.get("PackageType") == "Image" else props["Handler"])


def test_every_handler_string_resolves_to_a_function(functions_in_template: dict[str, dict[str, Any]]) -> None:
    for where, spec in functions_in_template.items():
        module_name, _, attribute = handler_of(spec).rpartition(".")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute, None)), f"{where}: {handler_of(spec)} is not callable"


def test_every_setting_a_handler_reads_is_set_by_the_stack(
    functions_in_template: dict[str, dict[str, Any]],
) -> None:
    for where, spec in functions_in_template.items():
        module = importlib.import_module(handler_of(spec).rpartition(".")[0])
        settings_type = getattr(module, "SETTINGS", None)
        assert settings_type is not None, f"{where}: handler module declares no SETTINGS type"
        # Values are tokens in the template; presence is what the stack controls.
        env = {
            k: "x" if isinstance(v, dict) else str(v) for k, v in spec["Properties"]["Environment"]["Variables"].items()
        }
        settings_type.from_env(env)


def test_every_custom_error_in_retry_and_catch_is_an_exception_class(example_assembly: Path) -> None:
    names = {name for name, cls in inspect.getmembers(domain_errors, inspect.isclass) if issubclass(cls, BaseException)}
    for where, spec in resources(example_assembly, "AWS::StepFunctions::StateMachine").items():
        document = json.loads(re.sub(r"\$\{[A-Za-z0-9]+\}", "x", definition_text(spec)))
        for error in _error_names(document):
            assert error.startswith(AWS_ERROR_PREFIXES) or error in names, f"{where}: {error} is not a known error"


def test_asl_files_use_only_declared_placeholders() -> None:
    for path in ASL_DIR.glob("*.asl.json"):
        document = json.loads(path.read_text())
        for name in placeholders(document):
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), f"{path.name}: placeholder {name} is not PascalCase"
        assert not re.search(r"arn:aws:[a-z]+:[a-z0-9-]+:\d{12}", path.read_text()), f"{path.name} has a literal ARN"


def _error_names(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Retry", "Catch"):
                for rule in value:
                    found.update(rule["ErrorEquals"])
            found |= _error_names(value)
    elif isinstance(node, list):
        for item in node:
            found |= _error_names(item)
    return found
