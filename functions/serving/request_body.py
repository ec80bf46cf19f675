"""A request's JSON body, parsed strictly: what a JSON parser lets through but a request must not carry.

Python's ``json`` accepts each of these, and each used to crash a handler (a 500) or slip past the
validation. They are refused here with a one-line ``InvalidRequestError`` (400) naming the field by its
path (``records[2].wind``, ``body`` for the document itself):

- ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON), and a number that overflows a 64-bit float (``1e400``);
- an integer too large for a 64-bit float (a 400-digit integer: converting it raised ``OverflowError``);
- a string or field name holding a lone surrogate (``"\\ud800"`` is a valid JSON escape but not Unicode
  text: it cannot be written as UTF-8, to S3 or to the log);
- a field name given twice in one object (parsers disagree on which value wins; the last one did here);
- nesting deeper than ``MAX_DEPTH`` (a prediction request is three levels deep; a deep document exhausted
  the parser's recursion, or later a ``repr`` of it).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from functions.shared.errors import InvalidRequestError

__all__ = ["MAX_DEPTH", "parse_json"]

# Containers nested in a request body, the body itself counted: {"records": [{...}]} is 3.
MAX_DEPTH = 32
# A float64 holds integers up to about 1.8e308, which is 309 digits; a longer integer cannot be one.
_FLOAT_DIGITS = 309


class _NotFinite:
    """Stands for a ``NaN``/``Infinity`` token, or a number out of the float range, until its path is known."""

    def __init__(self, token: str) -> None:
        self.token = token

    def problem(self) -> str:
        if self.token in ("NaN", "Infinity", "-Infinity"):
            return f"{self.token} is not a JSON number; send a finite number"
        digits = self.token.lstrip("-")
        shown = self.token if len(self.token) <= 24 else f"{self.token[:12]}...({len(digits)} digits)"
        return f"number {shown} is too large for a 64-bit float"


class _DuplicateNames(dict[str, Any]):
    """An object that named a field twice (the first such name kept in ``duplicate``)."""

    duplicate: str


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    built = dict(pairs)
    if len(built) == len(pairs):
        return built
    seen: set[str] = set()
    duplicate = next(name for name, _ in pairs if name in seen or seen.add(name))  # type: ignore[func-returns-value]
    marked = _DuplicateNames(built)
    marked.duplicate = duplicate
    return marked


def _integer(token: str) -> int | _NotFinite:
    digits = len(token.lstrip("-"))
    if digits > _FLOAT_DIGITS:  # checked before int(), which refuses more than 4300 digits itself
        return _NotFinite(token)
    value = int(token)
    if digits == _FLOAT_DIGITS:
        try:
            float(value)
        except OverflowError:
            return _NotFinite(token)
    return value


def _float(token: str) -> float | _NotFinite:
    value = float(token)
    return value if math.isfinite(value) else _NotFinite(token)


def _readable(name: str) -> str:
    """A field name as a message can carry it: a lone surrogate shown as its escape."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{_readable(key)}" if path else _readable(key)


def _unicode_problem(text: str) -> str | None:
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"invalid unicode: a lone surrogate {text[exc.start]!a} at character {exc.start}"
    return None


def _problem(document: Any) -> tuple[str, str] | None:
    """The first (path, problem) in ``document``, walked without recursion (it may be deep)."""
    stack: list[tuple[str, Any, int]] = [("", document, 1)]
    while stack:
        path, node, depth = stack.pop()
        where = path or "body"
        if isinstance(node, _NotFinite):
            return where, node.problem()
        if isinstance(node, str):
            problem = _unicode_problem(node)
            if problem is not None:
                return where, problem
        elif isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                return where, f"nested deeper than {MAX_DEPTH} levels"
            if isinstance(node, _DuplicateNames):
                return _join(path, node.duplicate), "field given twice in one object"
            if isinstance(node, dict):
                for name in node:
                    problem = _unicode_problem(name)
                    if problem is not None:
                        return _join(path, name), f"field name: {problem}"
                items = list(node.items())
            else:
                items = list(enumerate(node))
            # Reversed, so the walk meets the fields in document order (the first problem is the one named).
            stack.extend((_join(path, key), value, depth + 1) for key, value in reversed(items))
    return None


# Tokens that open, close or name a container; strings are skipped whole (they may hold brackets).
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')


def _deep_path(raw: str) -> str:
    """The path where ``raw`` first nests deeper than ``MAX_DEPTH`` (for a document too deep to parse)."""
    frames: list[list[Any]] = []  # per open container: [is_object, key or index]
    pending_key: str | None = None
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in "[{":
            if len(frames) >= MAX_DEPTH:
                break
            frames.append([token == "{", None if token == "{" else 0])
        elif token in "]}":
            if frames:
                frames.pop()
        elif token == ",":
            if frames and not frames[-1][0]:
                frames[-1][1] += 1
        elif token == ":":
            if frames and frames[-1][0]:
                frames[-1][1] = pending_key
        else:
            try:
                pending_key = json.loads(token)
            except ValueError:
                pending_key = token.strip('"')
    path = ""
    for _, key in frames:
        if key is not None:
            path = _join(path, key)
    return path or "body"


def parse_json(raw: str) -> Any:
    """``raw`` as JSON, or an ``InvalidRequestError`` naming the field at fault (see the module docstring)."""
    try:
        document = json.loads(raw, parse_constant=_NotFinite, parse_int=_integer, parse_float=_float,
                              object_pairs_hook=_object)  # fmt: skip
    except RecursionError:
        raise InvalidRequestError(f"{_deep_path(raw)}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    found = _problem(document)
    if found is not None:
        raise InvalidRequestError(f"{found[0]}: {found[1]}")
    return document
