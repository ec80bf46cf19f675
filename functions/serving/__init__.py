"""C8 serving: request signatures, online and batch prediction, prediction capture."""
