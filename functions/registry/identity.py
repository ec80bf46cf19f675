"""Who is deciding: the caller's AWS identity, from STS, for every approval, rejection and alias move.

The registry records ``by`` as given; every writer in the toolkit (the ``mlops`` CLI, Promote, the
rollout's outcome recorder, the failure path of a run) passes the ARN ``GetCallerIdentity`` answers
for the credentials it runs with, never a name typed on a command line. A Lambda function is its
role's assumed-role session (``arn:aws:sts::<account>:assumed-role/<role>/<function>``), a person
their user or SSO role session. ``GetCallerIdentity`` needs no IAM permission.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.shared.aws_errors import storage_error
from functions.shared.errors import StorageError


def caller_arn(sts_client: Any) -> str:
    """The ARN of the identity ``sts_client``'s credentials belong to."""
    try:
        arn = sts_client.get_caller_identity()["Arn"]
    except ClientError as exc:
        raise storage_error(exc, "asking STS who is calling (GetCallerIdentity)") from exc
    except BotoCoreError as exc:  # no credentials, no endpoint: nothing to record a decision under
        raise StorageError(f"asking STS who is calling (GetCallerIdentity): {exc}") from exc
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        raise StorageError(f"STS GetCallerIdentity answered no ARN: {arn!r}")
    return arn
