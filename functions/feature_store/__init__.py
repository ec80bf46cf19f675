"""The feature store's pure core: definitions, validation, rules, point-in-time joins, manifests.

Import from the submodules (``functions.feature_store.definitions`` and so on): this file imports
nothing, so the inference function can read the online store (``feature_store.online_store``) in the
serving image, which has no pandas or pyarrow. A project declares its views through ``functions.project``.
"""
