"""What a project imports to declare its ML problem, and how the toolkit loads it.

A project's ``project.py``::

    from functions.project import Entity, FeatureView, Field, ModelSpec, Project, QualityGate, ...

    project = Project(name="...", sources=[...], feature_views=[...], models=[...])

See docs/projects.md for every field and the error each mistake gets.
"""

from functions.feature_store.definitions import (
    EVENT_TIMESTAMP,
    Entity,
    FeatureView,
    Field,
    RawSource,
    Transformation,
    ValueType,
    transformation,
)
from functions.project.definition import DemoScenario, Project
from functions.project.loader import PROJECT_FILE, load_project
from functions.training.model_spec import (
    FeatureStoreInputs,
    ModelSpec,
    QualityGate,
    SearchSpace,
    Task,
    TrainingWindow,
)

__all__ = [
    "EVENT_TIMESTAMP",
    "PROJECT_FILE",
    "DemoScenario",
    "Entity",
    "FeatureStoreInputs",
    "FeatureView",
    "Field",
    "ModelSpec",
    "Project",
    "QualityGate",
    "RawSource",
    "SearchSpace",
    "Task",
    "TrainingWindow",
    "Transformation",
    "ValueType",
    "load_project",
    "transformation",
]
