"""The serving image's dependencies (functions/requirements-serving.txt) suffice for serving ONNX models.

A fresh interpreter refuses to import any top-level package that requirements-serving.txt does not install
(with its dependencies), the standard library and our own ``functions`` aside; moto, which stands in for
AWS, may import what it likes. In it: the inference handler's import, an ONNX model loaded from S3 and its
first predictions (records, entity ids from the online store, GET /model, GET /openapi.json), a version
without an ONNX form refused with one line, and the pre-traffic hook's import.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from datetime import timedelta
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from functions.feature_store.definitions import Entity, FeatureView, Field, Transformation
from functions.serving.online_view import describe_online_view
from functions.serving.signature import FeatureSignature, ModelSignature

ROOT = Path(__file__).resolve().parents[2]
SERVING_REQUIREMENTS = ROOT / "functions" / "requirements-serving.txt"
FULL_REQUIREMENTS = ROOT / "functions" / "requirements.txt"
FEATURES = ("precipitation", "temp_max", "temp_min", "wind")

# Runs in a fresh interpreter: argv[1] is the seed (allowed modules, env, model bytes, registry items).
SCRIPT = r"""
import importlib.abc, json, sys
seed = json.load(open(sys.argv[1]))
serving = set(seed["allowed"]) | {"functions"}
importable = serving | set(sys.stdlib_module_names)

class ServingPackageOnly(importlib.abc.MetaPathFinder):
    # Refuse a package the serving image would not have (as if absent) when serving code asks for it; other
    # importers are not the serving package's business: moto (standing in for AWS), this script, the stdlib.
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in importable:
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen")):
            frame = frame.f_back
        importer = (frame.f_globals.get("__name__", "") if frame else "").partition(".")[0]
        if importer not in serving:
            return None
        raise ModuleNotFoundError(f"{name} is not in the serving package (imported by {importer})", name=name)

sys.meta_path.insert(0, ServingPackageOnly())
from moto import mock_aws

with mock_aws():
    import boto3
    import os
    os.environ.update(seed["env"])
    s3, ddb = boto3.client("s3"), boto3.client("dynamodb")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="runs/r/model.onnx", Body=bytes.fromhex(seed["onnx"]))
    s3.put_object(Bucket="artifacts", Key="runs/r/model.joblib", Body=b"a joblib artifact")
    keys = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}]
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    for table in ("registry", "online"):
        ddb.create_table(TableName=table, KeySchema=schema, AttributeDefinitions=keys, BillingMode="PAY_PER_REQUEST")
    for table, item in seed["items"]:
        ddb.put_item(TableName=table, Item=item)
    boto3.client("secretsmanager").create_secret(Name="prediction-key", SecretString="a prediction id key")
    from functions.handlers.inference import handler
    from functions.rollout.canary import proxy_event

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "inference", 1024, "test"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:inference"

    def call(method, path, body=None):
        response = handler(proxy_event(method, path, body), Context())
        return response["statusCode"], json.loads(response["body"])

    out = {
        "records": call("POST", "/predict", {"records": [seed["record"]]}),
        "entities": call("POST", "/predict", {"entities": [{"station_id": "seattle"}]}),
        "model": call("GET", "/model"),
        "openapi": call("GET", "/openapi.json")[0],
    }
    os.environ["MLOPS_MODEL_VERSION"] = "2"
    import functions.handlers.inference as inference
    inference.settings.cache_clear()
    inference.models.loaded = None
    out["sklearn_only"] = call("GET", "/model")
    import functions.handlers.pre_traffic_hook  # noqa: F401
    heavy = sorted({"pandas", "pyarrow", "sklearn", "scipy", "joblib", "skl2onnx", "onnx"} & set(sys.modules))
    out["heavy_modules_loaded"] = heavy
print(json.dumps(out))
"""


def _onnx_classifier() -> bytes:
    """An ONNX classifier as the registry stores one (label, probabilities; classes in the metadata):
    "rain" when precipitation > 0. Built with onnx's helpers, so the test needs no scikit-learn or skl2onnx."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.zeros((len(FEATURES), 2), dtype=np.float32)
    weights[0] = [4.0, -4.0]
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["index"], axis=1, keepdims=0),
        helper.make_node("Gather", ["classes", "index"], ["label"]),
    ]
    classes = helper.make_tensor("classes", TensorProto.STRING, [2], [b"rain", b"sun"])
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, len(FEATURES)])],
        [
            helper.make_tensor_value_info("label", TensorProto.STRING, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
        initializer=[numpy_helper.from_array(weights, "W"), classes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"mlops.classes": json.dumps(["rain", "sun"])})
    return bytes(model.SerializeToString())


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _closure(names: list[str]) -> set[str]:
    """The distributions ``names`` install, with their dependencies (extras and markers not applying left out)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        for requirement in metadata.requires(name) or []:
            if "extra ==" in requirement or 'sys_platform == "win32"' in requirement:
                continue
            todo.append(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])
    return seen


def _top_level_modules(distributions: set[str]) -> list[str]:
    found = set()
    for module, owners in metadata.packages_distributions().items():
        if {re.sub(r"[-_.]+", "-", o).lower() for o in owners} & distributions:
            found.add(module)
    return sorted(found)


def test_serving_requirements_pin_what_the_full_image_pins() -> None:
    serving, full = _pins(SERVING_REQUIREMENTS), _pins(FULL_REQUIREMENTS)
    assert {name: full.get(name) for name in serving} == serving


def test_serving_package_serves_onnx_models_and_refuses_versions_without_onnx(tmp_path: Path) -> None:
    # Given an ONNX classifier in S3, its version (and one without an ONNX form) in the registry, a feature row
    # online, and an interpreter that can import only the serving package
    onnx_bytes = _onnx_classifier()
    signature = ModelSignature(tuple(FeatureSignature(f, "float") for f in FEATURES), ("rain", "sun")).to_dict()
    view = FeatureView(
        name="daily_weather",
        version=1,
        entities=(Entity("station", ("station_id",)),),
        schema=tuple(Field(f, "float64") for f in FEATURES),
        ttl=timedelta(days=3650),
        source="weather",
        transformation=Transformation("daily", 1, lambda raw: raw),
    )
    from functions.shared.dynamo_items import to_item

    version = {
        "pk": "MODEL#m",
        "model_name": "m",
        "artifact_uri": "s3://artifacts/runs/r/model.joblib",
        "artifact_sha256": hashlib.sha256(b"a joblib artifact").hexdigest(),
        "metrics": {},
        "params": {},
        "signature": signature,
        "training_data_uri": "s3://x/y",
        "training_data_sha256": "0" * 64,
        "run_id": "r",
        "status": "REGISTERED",
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    onnx = {"onnx_uri": "s3://artifacts/runs/r/model.onnx", "onnx_sha256": hashlib.sha256(onnx_bytes).hexdigest()}
    now_us = 1_767_225_600 * 1_000_000  # 2026-01-01
    features = dict(zip(FEATURES, (1.5, 11.0, 4.0, 5.2), strict=True))
    seed = {
        "allowed": _top_level_modules(_closure(list(_pins(SERVING_REQUIREMENTS)))),
        "onnx": onnx_bytes.hex(),
        "record": features,
        "items": [
            ["registry", to_item({**version, **onnx, "sk": "VERSION#0000000001", "version": 1})],
            [
                "registry",
                to_item(
                    {
                        **version,
                        "sk": "VERSION#0000000002",
                        "version": 2,
                        "onnx_unsupported_reason": "SlowModel: not convertible",
                    }
                ),
            ],
            [
                "online",
                to_item(
                    {
                        "pk": "station_id=seattle",
                        "sk": "daily_weather#v1",
                        "event_ts": now_us,
                        "created_ts": now_us,
                        "features": features,
                    }
                ),
            ],
        ],
        "env": {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "MLOPS_ARTIFACT_BUCKET": "artifacts",
            "MLOPS_REGISTRY_TABLE": "registry",
            "MLOPS_MODEL_NAME": "m",
            "MLOPS_MODEL_VERSION": "1",
            "MLOPS_MODEL_REFRESH_SECONDS": "60",
            "MLOPS_MAX_RECORDS": "100",
            "MLOPS_CAPTURE_BUCKET": "captures",
            "MLOPS_PREDICTION_KEY_SECRET": "prediction-key",
            "MLOPS_FEATURE_ONLINE_TABLE": "online",
            "MLOPS_ONLINE_VIEW": describe_online_view(view),
            "POWERTOOLS_METRICS_NAMESPACE": "test",
            "POWERTOOLS_SERVICE_NAME": "inference",
        },
    }
    assert "pandas" not in seed["allowed"] and "sklearn" not in seed["allowed"]
    (tmp_path / "seed.json").write_text(json.dumps(seed))

    # When the handler serves in that interpreter
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "seed.json")],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    # Then the ONNX model answers records and entity ids, GET /model and /openapi.json work, no heavy module loaded
    status, body = out["records"]
    assert status == 200 and body["predictions"][0]["label"] == "rain"  # precipitation > 0
    status, body = out["entities"]
    assert status == 200 and body["predictions"][0]["status"] == "PRESENT" and "label" in body["predictions"][0]
    assert out["model"][0] == 200 and out["model"][1]["runtime"] == "onnx"
    assert out["openapi"] == 200, done.stdout[-3000:]
    assert out["heavy_modules_loaded"] == []
    # And a version without an ONNX form is refused with one line naming the model and version (a 503, which
    # the pre-traffic hook's smoke test reports, so no canary shifts to it)
    status, body = out["sklearn_only"]
    assert status == 503
    assert body["message"].startswith("model 'm' version 2 has no ONNX form (SlowModel: not convertible)")
    assert "\n" not in body["message"]


@pytest.mark.parametrize("line", ["import pandas", "from sklearn.base import BaseEstimator"])
def test_the_blocker_refuses_what_the_serving_package_lacks(line: str) -> None:
    # Given the same blocker, When serving code (our functions package) imports pandas or scikit-learn
    allowed = _top_level_modules(_closure(list(_pins(SERVING_REQUIREMENTS))))
    blocker = SCRIPT.split("from moto import mock_aws", 1)[0]
    probe = blocker.replace("seed = json.load(open(sys.argv[1]))", f"seed = {{'allowed': {allowed!r}}}")
    # Then the import fails (the module's __name__ is "functions.probe": it counts as our code)
    script = probe + f"\n__name__ = 'functions.probe'\n{line}\n"
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "is not in the serving package" in done.stderr, done.stderr[-2000:]
