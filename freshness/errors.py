"""The domain's exceptions. `freshness.api.problems` turns them into RFC 9457 problem details."""

from __future__ import annotations

from typing import Any

from msgspec import Struct


class Problem(Struct, omit_defaults=True):
    """An error on the wire (RFC 9457). `field` names the input to fix, as `task_class` or `filters.source_ids`.

    Here rather than beside the handlers so that the Python client decodes the same shape without Litestar."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None


class FreshnessError(Exception):
    """Base of every error the service reports to a caller."""

    status = 400
    type = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ConfigError(FreshnessError):
    type = "config-invalid"
    title = "Configuration is invalid"


class MalformedBody(FreshnessError):
    status = 400
    type = "malformed-json"
    title = "Request body is not valid JSON"


class InvalidInput(FreshnessError):
    status = 422
    type = "invalid-input"
    title = "Request is invalid"


class PolicyInvalid(FreshnessError):
    status = 422
    type = "policy-invalid"
    title = "Policy is invalid"


class Unauthorized(FreshnessError):
    status = 401
    type = "unauthorized"
    title = "A valid API key is required"


class Forbidden(FreshnessError):
    status = 403
    type = "forbidden"
    title = "This key may not do that"


class NotFound(FreshnessError):
    status = 404
    type = "not-found"
    title = "Not found"


class Conflict(FreshnessError):
    status = 409
    type = "conflict"
    title = "Conflict"


class Unavailable(FreshnessError):
    status = 503
    type = "unavailable"
    title = "A backing service is unavailable"


class StoreLocked(Unavailable):
    type = "store-locked"
    title = "The embedded vector store is held by another process"
