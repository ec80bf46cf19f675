"""Reproducible performance runs (`make bench`)."""
