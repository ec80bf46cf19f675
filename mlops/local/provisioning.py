"""What a provisioner is, and what it is given: the local cloud's side of creating one template resource.

A provisioner takes a resource's stack name, logical id and resolved properties, creates the resource
(in moto, in an emulation, or both) and returns its ``PhysicalResource`` (``Ref`` and ``Fn::GetAtt``
values). Each service module owns the provisioners of its resource types and exposes them as a table
from a ``provisioners(...)`` function; ``LocalCloud`` composes those tables. A provisioner reaches the
cloud only through its ``ProvisioningContext`` and the emulation object its module's table was built with.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops.local.intrinsics import PhysicalResource

Provisioner = Callable[[str, str, dict[str, Any]], PhysicalResource]
"""``(stack, logical_id, resolved properties) -> PhysicalResource``."""

Provisioners = dict[str, Provisioner]
"""Provisioners by CloudFormation resource type (``AWS::S3::Bucket``)."""


@dataclass(frozen=True)
class ProvisioningContext:
    """What every provisioner may use of the local cloud: its clients, account, region and report notes."""

    clients: Callable[[str], Any]
    account: str
    region: str
    notes: list[str]
    """The provision report's notes: what differs locally for one resource, said once at provisioning."""

    def client(self, service: str) -> Any:
        return self.clients(service)

    def name(self, stack: str, logical_id: str, max_length: int, *, lower: bool = False) -> str:
        return physical_name(stack, logical_id, max_length, lower=lower)


def physical_name(stack: str, logical_id: str, max_length: int, *, lower: bool = False) -> str:
    """A physical name as CloudFormation makes them: stack, logical id, random-looking suffix."""
    suffix = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:8]
    base = re.sub(r"[^A-Za-z0-9-]", "-", f"{stack}-{logical_id}")[: max_length - 9]
    name = f"{base}-{suffix}"
    return name.lower() if lower else name
