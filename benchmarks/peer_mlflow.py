"""MLflow's side of ``bench_vs_mlflow``; runs in ``.venv-bench-mlflow`` (no product imports).

    python peer_mlflow.py save <model.joblib> <dir>    -> mlflow.sklearn.save_model of the very same estimator
    python peer_mlflow.py cold <dir>                    -> seconds to import mlflow.pyfunc, load, predict one record

Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "save":
        import joblib
        import mlflow
        import mlflow.sklearn
        import numpy as np

        model = joblib.load(sys.argv[2])
        example = np.array([[1.5, 11.0, 4.0, 5.2]])
        # MLflow's default (skops) format asks which types to trust; the model is ours, trained in this run.
        mlflow.sklearn.save_model(
            model, sys.argv[3], input_example=example, skops_trusted_types=["sklearn.tree._tree.Tree"]
        )
        print(json.dumps({"version": mlflow.__version__}))
    elif mode == "cold":
        started = time.perf_counter()
        import mlflow.pyfunc
        import numpy as np

        model = mlflow.pyfunc.load_model(sys.argv[2])
        model.predict(np.array([[1.5, 11.0, 4.0, 5.2]]))
        print(json.dumps({"seconds": time.perf_counter() - started}))
    else:
        raise SystemExit(f"unknown mode {mode!r}: save or cold")
