"""The Python client of the freshness service (SPEC §10), sync and async, typed with the server's wire Structs.

It needs only httpx and msgspec: an application that talks to a running service installs the client alone
with `pip install ./packaging/client` (the `freshness-client` distribution; see README, "Python client and
retrievers").

    from freshness.client import FreshnessClient, InsufficientContext

    with FreshnessClient("http://127.0.0.1:8000", "fk_...") as client:
        answer = client.retrieve("can I get a refund after 30 days?", "refund_decision")
"""

from freshness.client.aio import AsyncFreshnessClient
from freshness.client.errors import (
    Conflict,
    Forbidden,
    FreshnessAPIError,
    FreshnessClientError,
    InsufficientContext,
    InvalidInput,
    NotFound,
    ServiceUnreachable,
    Unauthorized,
    Unavailable,
)
from freshness.client.retry import NO_RETRY, Retry
from freshness.client.sync import FreshnessClient

__all__ = [
    "AsyncFreshnessClient", "Conflict", "Forbidden", "FreshnessAPIError", "FreshnessClient", "FreshnessClientError",
    "InsufficientContext", "InvalidInput", "NO_RETRY", "NotFound", "Retry", "ServiceUnreachable", "Unauthorized",
    "Unavailable",
]
