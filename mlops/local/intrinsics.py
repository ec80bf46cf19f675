"""Resolve the CloudFormation intrinsic functions the stacks use.

Supported: Ref, Fn::GetAtt, Fn::Join, Fn::Sub (both forms), Fn::Select,
Fn::Split, Fn::ImportValue, Fn::If with Conditions, Fn::GetAZs (the region's
zones a, b, c, as moto names them), and the pseudo
parameters. Anything else is an ``IntrinsicError`` naming where it was
found, never a silent pass-through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class IntrinsicError(ValueError):
    """An intrinsic function the local cloud cannot resolve."""


@dataclass
class PhysicalResource:
    """What a provisioned resource answers to ``Ref`` and ``Fn::GetAtt``."""

    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Resolver:
    stack_name: str
    account: str
    region: str
    resources: Mapping[str, PhysicalResource]
    parameters: Mapping[str, Any]
    exports: Mapping[str, Any]
    conditions: Mapping[str, bool] = field(default_factory=dict)

    def pseudo(self, name: str) -> Any:
        values: dict[str, Callable[[], Any]] = {
            "AWS::AccountId": lambda: self.account,
            "AWS::Region": lambda: self.region,
            "AWS::Partition": lambda: "aws",
            "AWS::URLSuffix": lambda: "amazonaws.com",
            "AWS::StackName": lambda: self.stack_name,
            "AWS::StackId": lambda: (
                f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/local"
            ),
            "AWS::NoValue": lambda: _NO_VALUE,
        }
        if name not in values:
            raise IntrinsicError(f"unknown pseudo parameter {name}")
        return values[name]()

    def ref(self, name: str, where: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name].ref
        raise IntrinsicError(f"{where}: Ref to {name!r}, which is neither a parameter nor a provisioned resource")

    def get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        if logical_id not in self.resources:
            raise IntrinsicError(f"{where}: Fn::GetAtt on {logical_id!r}, which is not provisioned")
        attributes = self.resources[logical_id].attributes
        if attribute not in attributes:
            raise IntrinsicError(
                f"{where}: {logical_id} has no attribute {attribute!r} locally "
                f"(known: {', '.join(sorted(attributes)) or 'none'})"
            )
        return attributes[attribute]

    def resolve(self, value: Any, where: str = "") -> Any:
        """``value`` with every intrinsic replaced by its local value."""
        if isinstance(value, list):
            resolved = [self.resolve(item, f"{where}[{i}]") for i, item in enumerate(value)]
            return [item for item in resolved if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument, where)
            if key.startswith("Fn::") or key == "Condition":
                return self._function(key, argument, where)
        resolved_map = {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in resolved_map.items() if v is not _NO_VALUE}

    def _function(self, key: str, argument: Any, where: str) -> Any:
        here = f"{where}.{key}"
        if key == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(logical_id, self.resolve(attribute, here), here)
        if key == "Fn::Join":
            delimiter, items = argument
            return delimiter.join(str(item) for item in self.resolve(items, here))
        if key == "Fn::Sub":
            template, variables = (argument, {}) if isinstance(argument, str) else argument
            variables = self.resolve(variables, here)
            return _SUB_VARIABLE.sub(lambda m: str(self._sub_variable(m.group(1), variables, here)), template)
        if key == "Fn::Select":
            index, items = self.resolve(argument, here)
            return items[int(index)]
        if key == "Fn::Split":
            delimiter, text = self.resolve(argument, here)
            return text.split(delimiter)
        if key == "Fn::ImportValue":
            name = self.resolve(argument, here)
            if name not in self.exports:
                raise IntrinsicError(f"{here}: no stack exports {name!r}")
            return self.exports[name]
        if key == "Fn::GetAZs":
            region = self.resolve(argument, here) or self.region
            return [f"{region}{zone}" for zone in "abc"]
        if key == "Fn::If":
            condition, when_true, when_false = argument
            if condition not in self.conditions:
                raise IntrinsicError(f"{here}: unknown condition {condition!r}")
            return self.resolve(when_true if self.conditions[condition] else when_false, here)
        raise IntrinsicError(f"{here}: intrinsic function {key} is not supported by the local cloud")

    def _sub_variable(self, name: str, variables: Mapping[str, Any], where: str) -> Any:
        if name in variables:
            return variables[name]
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.get_att(logical_id, attribute, where)
        return self.ref(name, where)

    def evaluate_condition(self, expression: Any, where: str) -> bool:
        """Evaluate a Conditions entry (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition)."""
        if not isinstance(expression, dict) or len(expression) != 1:
            raise IntrinsicError(f"{where}: malformed condition {expression!r}")
        ((key, argument),) = expression.items()
        if key == "Fn::Equals":
            left, right = (self.resolve(a, where) for a in argument)
            return bool(left == right)
        if key == "Fn::Not":
            return not self.evaluate_condition(argument[0], where)
        if key == "Fn::And":
            return all(self.evaluate_condition(a, where) for a in argument)
        if key == "Fn::Or":
            return any(self.evaluate_condition(a, where) for a in argument)
        if key == "Condition":
            return self.conditions[argument]
        raise IntrinsicError(f"{where}: condition function {key} is not supported by the local cloud")


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()


def references(value: Any) -> set[str]:
    """Logical ids ``value`` refers to through Ref, Fn::GetAtt or Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str) and not argument.startswith("AWS::"):
                found.add(argument)
            elif key == "Fn::GetAtt":
                found.add(argument[0] if isinstance(argument, list) else argument.split(".", 1)[0])
            elif key == "Fn::Sub":
                template = argument if isinstance(argument, str) else argument[0]
                for name in _SUB_VARIABLE.findall(template):
                    if not name.startswith("AWS::"):
                        found.add(name.split(".", 1)[0])
                if isinstance(argument, list):
                    found |= references(argument[1])
            else:
                found |= references(argument)
    return found
