"""The local cloud: what ``cdk synth`` produced, stood up on moto in-process."""

from mlops.local.cloud import LocalCloud

__all__ = ["LocalCloud"]
