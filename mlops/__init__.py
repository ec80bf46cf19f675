"""Operator side: the ``mlops`` CLI and the local cloud."""
