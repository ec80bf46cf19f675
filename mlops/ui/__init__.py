"""``mlops ui``: a web app over the registry, the metadata store, the feature store and the monitor's reports.

``create_app`` (``mlops.ui.app``) builds it over an operator ``Backend``; each page module (runs, models, lineage,
features, monitoring) is a FastAPI router reading through the same functions the CLI calls.
"""
