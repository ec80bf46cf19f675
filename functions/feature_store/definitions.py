"""Typed feature store definitions: entities, fields, feature views, raw sources.

Definitions are plain frozen dataclasses checked when they are built, so a
mistake (an unknown type, a key missing from the schema, a negative TTL)
fails when the project loads, with a message naming it, not deep inside a pipeline.
They are the vocabulary of a project (see ``functions/project``). A feature view is
identified by ``name`` and ``version``: a change to its
schema or to the transformation producing it is a new version, and a
training set records the versions it read (see ``manifest.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from functions.shared.errors import ConfigurationError

if TYPE_CHECKING:
    # Only rules handle DataFrames: the serving image reads definitions without pandas installed.
    import pandas as pd

EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"


class ValueType(StrEnum):
    """Value types a field may have; each maps to one pandas and one Glue/Athena type."""

    INT64 = "int64"
    FLOAT64 = "float64"
    STRING = "string"
    BOOL = "bool"
    TIMESTAMP = "timestamp"

    @property
    def glue_type(self) -> str:
        return _GLUE_TYPES[self]


_GLUE_TYPES = {
    ValueType.INT64: "bigint",
    ValueType.FLOAT64: "double",
    ValueType.STRING: "string",
    ValueType.BOOL: "boolean",
    ValueType.TIMESTAMP: "timestamp",
}


@dataclass(frozen=True)
class Field:
    """A typed column with the checks validation applies to it."""

    name: str
    dtype: ValueType
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ConfigurationError(f"field name {self.name!r} must be an identifier")
        if not isinstance(self.dtype, ValueType):
            try:
                object.__setattr__(self, "dtype", ValueType(self.dtype))
            except ValueError:
                known = ", ".join(t.value for t in ValueType)
                raise ConfigurationError(
                    f"field {self.name!r}: unknown type {self.dtype!r}; use one of {known}"
                ) from None
        numeric = self.dtype in (ValueType.INT64, ValueType.FLOAT64)
        if (self.minimum is not None or self.maximum is not None) and not numeric:
            raise ConfigurationError(f"field {self.name!r}: a range needs a numeric type, not {self.dtype}")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ConfigurationError(f"field {self.name!r}: minimum {self.minimum} exceeds maximum {self.maximum}")
        if self.allowed is not None and self.dtype is not ValueType.STRING:
            raise ConfigurationError(f"field {self.name!r}: allowed categories need type string, not {self.dtype}")


@dataclass(frozen=True)
class Entity:
    """What features describe (a station, a customer), identified by its join keys."""

    name: str
    join_keys: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.join_keys:
            raise ConfigurationError(f"entity {self.name!r} needs at least one join key")


Rule = Callable[["pd.DataFrame"], "pd.DataFrame"]


@dataclass(frozen=True)
class Transformation:
    """A versioned rule: a pure function from validated raw rows to one view's feature rows.

    ``lookback``: a windowed rule's output row at event time ``t`` may depend on raw rows
    in ``[t - lookback, t]``. A partitioned run gives each partition, as context, the other
    partitions' rows in that span before the partition's first row; a windowed rule keeps
    the raw row's timestamp as its ``event_timestamp`` (so context rows can be told apart).
    Changing what a rule computes means a new version, never an edit of an old one: the
    offline write manifest and the training-set manifest record ``name@vN``.
    """

    name: str
    version: int
    fn: Rule = field(compare=False, repr=False)
    lookback: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "_").isidentifier():
            raise ConfigurationError(f"transformation name {self.name!r} must be an identifier")
        if self.version < 1:
            raise ConfigurationError(f"transformation {self.name!r}: version must be >= 1, got {self.version}")
        if self.lookback < timedelta(0):
            raise ConfigurationError(f"transformation {self}: lookback must not be negative")
        if not callable(self.fn):
            raise ConfigurationError(f"transformation {self}: fn must be a function of a DataFrame")

    def __call__(self, raw: pd.DataFrame) -> pd.DataFrame:
        return self.fn(raw)

    def __str__(self) -> str:
        return f"{self.name}@v{self.version}"


def transformation(
    name: str, version: int, *, lookback: timedelta = timedelta(0)
) -> Callable[[Rule], Transformation]:
    """Decorator: ``@transformation("daily", version=1)`` turns a function into a ``Transformation``."""

    def wrap(fn: Rule) -> Transformation:
        return Transformation(name, version, fn, lookback)

    return wrap


@dataclass(frozen=True)
class RawSource:
    """Raw data as it lands (a CSV or Parquet file): its schema and the keys that must be unique."""

    name: str
    schema: tuple[Field, ...]
    timestamp_field: str
    unique_keys: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        names = [f.name for f in self.schema]
        for required in (self.timestamp_field, *self.unique_keys):
            if required not in names:
                raise ConfigurationError(f"raw source {self.name!r}: {required!r} is not in its schema")

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.schema]


@dataclass(frozen=True)
class FeatureView:
    """A versioned group of features of one or more entities, with a TTL and its producing rule.

    Join keys are stored as strings (offline and online) so one key encoding serves both.
    """

    name: str
    version: int
    entities: tuple[Entity, ...]
    schema: tuple[Field, ...]
    ttl: timedelta
    source: str
    transformation: Transformation
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ConfigurationError(f"feature view name {self.name!r} must be an identifier")
        if self.version < 1:
            raise ConfigurationError(f"feature view {self.name!r}: version must be >= 1, got {self.version}")
        if self.ttl <= timedelta(0):
            raise ConfigurationError(f"feature view {self.name!r}: ttl must be positive, got {self.ttl}")
        if not self.entities:
            raise ConfigurationError(f"feature view {self.name!r} needs at least one entity")
        reserved = {EVENT_TIMESTAMP, CREATED_TIMESTAMP, *self.join_keys}
        clash = sorted(reserved & {f.name for f in self.schema})
        if clash:
            raise ConfigurationError(f"feature view {self.name!r}: schema redefines reserved columns {clash}")
        names = [f.name for f in self.schema]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"feature view {self.name!r}: duplicate feature names")

    @property
    def join_keys(self) -> tuple[str, ...]:
        return tuple(key for entity in self.entities for key in entity.join_keys)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.schema]

    @property
    def qualified_name(self) -> str:
        """``name:vN``, the identity recorded in manifests and online keys."""
        return f"{self.name}:v{self.version}"

    @property
    def stored_schema(self) -> tuple[Field, ...]:
        """Every column of an offline row: keys, timestamps, then features."""
        keys = tuple(Field(key, ValueType.STRING) for key in self.join_keys)
        stamps = (Field(EVENT_TIMESTAMP, ValueType.TIMESTAMP), Field(CREATED_TIMESTAMP, ValueType.TIMESTAMP))
        return keys + stamps + self.schema
