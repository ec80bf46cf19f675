"""The feature view an inference function reads online features from, described once at synth.

The serving image ships neither the project nor pandas and scikit-learn (which a project's
``project.py`` imports), so the inference function cannot load the project to find the view its
predictions by entity id read. The stack writes what a read needs (name, version, entities and
join keys, TTL, feature types) into the function's environment (``MLOPS_ONLINE_VIEW``), and the
function rebuilds the view from it at cold start. Its transformation is named, never run.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from functions.feature_store.definitions import Entity, FeatureView, Field, Transformation
from functions.shared.errors import ConfigurationError

# Lambda's whole environment holds 4 KB; the description must leave room for the other variables.
MAX_DESCRIPTION_BYTES = 2048


def describe_online_view(view: FeatureView) -> str:
    """``view`` as compact JSON for the inference function's environment; fails if it would not fit."""
    text = json.dumps(
        {
            "name": view.name,
            "version": view.version,
            "entities": [[e.name, list(e.join_keys)] for e in view.entities],
            "ttl_s": view.ttl.total_seconds(),
            "source": view.source,
            "rule": [view.transformation.name, view.transformation.version],
            "features": [[f.name, str(f.dtype)] for f in view.schema],
        },
        separators=(",", ":"),
    )
    if len(text.encode()) > MAX_DESCRIPTION_BYTES:
        raise ConfigurationError(
            f"feature view {view.qualified_name}: its description for the inference function is "
            f"{len(text.encode())} bytes, more than the {MAX_DESCRIPTION_BYTES} Lambda's environment leaves it"
        )
    return text


def online_view(description: str) -> FeatureView:
    """The view ``describe_online_view`` wrote: enough to read the online store, not to run its rule."""
    try:
        d = json.loads(description)
        rule_name, rule_version = d["rule"]
        return FeatureView(
            name=d["name"],
            version=int(d["version"]),
            entities=tuple(Entity(name, tuple(keys)) for name, keys in d["entities"]),
            schema=tuple(Field(name, dtype) for name, dtype in d["features"]),
            ttl=timedelta(seconds=float(d["ttl_s"])),
            source=d["source"],
            transformation=Transformation(rule_name, int(rule_version), _not_shipped),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"online view description is malformed ({exc}): {description[:80]!r}") from None


def _not_shipped(raw: Any) -> Any:
    raise ConfigurationError("a feature view's rule does not run in the inference function (not shipped there)")
