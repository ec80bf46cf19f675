"""What the registry may ever change in place: everything else it writes once.

Versions, aliases and alias history are put (history conditioned on its absence, never updated,
never deleted); in-place updates touch only the version counter and a version's approval fields.
The stack grants ``dynamodb:UpdateItem`` on the registry table only for requests whose attributes
are all in ``UPDATABLE_ATTRIBUTES`` (condition ``ForAllValues:StringEquals`` on
``dynamodb:Attributes``) and grants no ``DeleteItem`` at all, so an alias history item's facts
cannot be rewritten or removed through the toolkit's roles. A test checks every update the registry
makes stays inside this list.
"""

from __future__ import annotations

# Key attributes must be listed too: DynamoDB's fine-grained access checks them like any other.
UPDATABLE_ATTRIBUTES = (
    "pk",
    "sk",
    "next_version",
    "approval_status",
    "approval_by",
    "approval_reason",
    "approval_at",
)
