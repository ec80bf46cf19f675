"""Stacks compose constructs and wire grants."""
