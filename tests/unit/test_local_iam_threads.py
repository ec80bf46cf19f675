"""A function's own thread-pool tasks sign as the function, as every thread of a Lambda does in AWS."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from botocore.credentials import ReadOnlyCredentials

from mlops.local import iam
from mlops.local.iam import CALLER_CREDENTIALS, OPERATOR, RoleSession, inherit_caller_in_thread_pools

ROLE = RoleSession("arn:aws:iam::123456789012:role/fn", ReadOnlyCredentials("ASIAFUNCTION", "secret", "token"))


def _signing_key() -> str:
    return CALLER_CREDENTIALS.get_frozen_credentials().access_key


def test_a_pool_task_submitted_inside_an_invocation_signs_as_its_role_and_a_plain_thread_does_not() -> None:
    inherit_caller_in_thread_pools()
    inherit_caller_in_thread_pools()  # idempotent: one wrapper
    assert getattr(ThreadPoolExecutor.submit, "_as_caller", False)
    iam._identity.stack.append(ROLE)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            inside = list(pool.map(lambda _: _signing_key(), range(4)))
        seen: list[str] = []
        thread = threading.Thread(target=lambda: seen.append(_signing_key()))
        thread.start()
        thread.join()
    finally:
        iam._identity.stack.pop()
    assert inside == ["ASIAFUNCTION"] * 4
    # The interpreter's own threads (plain threads) stay the operator's
    assert seen == [OPERATOR.access_key]
    # and a pool used outside any invocation signs as the operator.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(_signing_key).result() == OPERATOR.access_key
