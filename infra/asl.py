"""Load and render the ASL files in ``stepfunctions/``: the single source of every state machine.

Placeholders are ``${Name}``. Two kinds:

- synth-time values (numbers and strings from the stage config) are rendered
  here; a string that is exactly ``"${Name}"`` bound to an ``int`` becomes
  that integer, so the file stays valid JSON (``"TimeoutSeconds": "${X}"``);
- deferred names (resource ARNs) stay as ``${Name}`` and are resolved by
  CloudFormation's ``DefinitionSubstitutions`` in AWS, and by the local cloud
  from the same synthesized template.

Rendering is strict: an unknown placeholder, or a value no placeholder uses,
is an error at synth time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infra.asl_timeouts import longest_path

ASL_DIR = Path(__file__).resolve().parent.parent / "stepfunctions"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")


class AslRenderError(ValueError):
    """An ASL file and the values given to render it do not match."""


def asl_path(name: str) -> Path:
    path = ASL_DIR / f"{name}.asl.json"
    if not path.is_file():
        raise AslRenderError(f"no state machine definition {path}")
    return path


def load_asl(name: str) -> dict[str, Any]:
    """The parsed ASL document ``stepfunctions/<name>.asl.json``."""
    try:
        document: dict[str, Any] = json.loads(asl_path(name).read_text())
    except json.JSONDecodeError as exc:
        raise AslRenderError(f"{name}.asl.json is not valid JSON: {exc}") from exc
    return document


def placeholders(document: Any) -> set[str]:
    """Every ``${Name}`` used anywhere in ``document``."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            found.update(PLACEHOLDER.findall(node))

    walk(document)
    return found


def render_asl(name: str, values: Mapping[str, int | str], deferred: Iterable[str]) -> str:
    """Render synth-time ``values`` into the ASL file; keep ``deferred`` placeholders as they are."""
    document = load_asl(name)
    deferred = set(deferred)
    used = placeholders(document)
    unknown = used - set(values) - deferred
    if unknown:
        raise AslRenderError(f"{name}.asl.json uses placeholders with no value: {', '.join(sorted(unknown))}")
    unused = (set(values) | deferred) - used
    if unused:
        raise AslRenderError(f"{name}.asl.json does not use: {', '.join(sorted(unused))}")

    def substitute(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: substitute(value) for key, value in node.items()}
        if isinstance(node, list):
            return [substitute(value) for value in node]
        if isinstance(node, str):
            whole = PLACEHOLDER.fullmatch(node)
            if whole and whole.group(1) in values and isinstance(values[whole.group(1)], int):
                return values[whole.group(1)]
            return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), node)
        return node

    return json.dumps(substitute(document), indent=1)


def longest_run(
    name: str, values: Mapping[str, int | str], map_rounds: Mapping[str, int]
) -> tuple[dict[str, Any], float]:
    """``name``'s definition rendered with ``values`` (the other placeholders left as they are) and its longest run
    in seconds (``infra/asl_timeouts.py``); an unbounded definition is an error naming what has no bound."""
    deferred = placeholders(load_asl(name)) - set(values)
    document = json.loads(render_asl(name, values, deferred))
    longest = longest_path(document, map_rounds)
    if longest.problems:
        raise AslRenderError(f"{name}.asl.json: unbounded: {'; '.join(longest.problems)}")
    return document, longest.seconds


def covering_timeout_s(seconds: float, floor_s: int) -> int:
    """A state machine's TimeoutSeconds for a longest run of ``seconds``: a whole minute, at least ``floor_s``."""
    return max(floor_s, math.ceil(seconds / 60) * 60)
