"""What the client raises: the service's problem details as typed errors, and an answer too thin to use.

Every 4xx and 5xx the service gives is an RFC 9457 problem document; `FreshnessAPIError` carries it
whole, and its subclass says by status what kind of failure it is, so an application catches
`NotFound` or `Unavailable` instead of comparing numbers.
"""

from __future__ import annotations

from typing import Any

import msgspec

from freshness.errors import Problem
from freshness.retrieval.schemas import Rejected, Result, RetrieveResponse


class FreshnessClientError(Exception):
    """Base of everything the client raises."""


class ServiceUnreachable(FreshnessClientError):
    """No answer: the connection failed or the timeout passed before the service answered."""


class FreshnessAPIError(FreshnessClientError):
    """The service answered with a problem document (`problem`); `extra` holds its members beyond RFC 9457's."""

    def __init__(self, problem: Problem, *, extra: dict[str, Any] | None = None, request_id: str | None = None,
                 retry_after: str | None = None) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem
        self.extra = extra or {}
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def type(self) -> str:
        return self.problem.type

    @property
    def title(self) -> str:
        return self.problem.title

    @property
    def detail(self) -> str:
        return self.problem.detail

    @property
    def field(self) -> str | None:
        """The input to fix, as `task_class` or `filters.source_ids`, when the service names one."""
        return self.problem.field

    @property
    def instance(self) -> str | None:
        return self.problem.instance


class InvalidInput(FreshnessAPIError):
    """400, 413 or 422: the request cannot be taken as it is; `field` names what to fix."""


class Unauthorized(FreshnessAPIError):
    """401: no key, or a key the service does not know (or has revoked)."""


class Forbidden(FreshnessAPIError):
    """403: the key's role, or its owner, does not allow this."""


class NotFound(FreshnessAPIError):
    """404."""


class Conflict(FreshnessAPIError):
    """409: an id in use, a publish in progress, a request id already used, a state that forbids the change."""


class Unavailable(FreshnessAPIError):
    """502, 503 or 504: a backing service is down or slow; nothing was served from unchecked content."""


BY_STATUS: dict[int, type[FreshnessAPIError]] = {
    400: InvalidInput, 413: InvalidInput, 422: InvalidInput,
    401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    502: Unavailable, 503: Unavailable, 504: Unavailable,
}
_STANDARD = {f.name for f in msgspec.structs.fields(Problem)}


def api_error(status: int, reason: str, content: bytes, headers: dict[str, str]) -> FreshnessAPIError:
    """The error for an answer with this status: its problem document, or one made up from the status
    when something in between (a proxy, a load balancer) answered with another body."""
    try:
        document = msgspec.json.decode(content)
    except msgspec.DecodeError:
        document = None
    problem = None
    if isinstance(document, dict):
        try:
            problem = msgspec.convert(document, Problem)
        except msgspec.ValidationError:
            pass
    if problem is None:
        text = content.decode("utf-8", "replace").strip()[:500]
        problem = Problem(type="about:blank", title=reason or f"HTTP {status}", status=status,
                          detail=text or f"the service answered {status} without a problem document")
        document = {}
    kind = BY_STATUS.get(status, FreshnessAPIError)
    extra = {k: v for k, v in document.items() if k not in _STANDARD}
    return kind(problem, extra=extra, request_id=headers.get("x-request-id"), retry_after=headers.get("retry-after"))


class InsufficientContext(FreshnessClientError):
    """Too few fresh chunks passed the task's policy (`status: insufficient_context`): take the fallback path.

    Carries the whole answer: `results` (whatever did pass) and `rejected` (what was withheld and why)."""

    def __init__(self, response: RetrieveResponse) -> None:
        super().__init__(
            f"insufficient context for {response.task_class} (request {response.request_id}): "
            f"{len(response.results)} served, {len(response.rejected)} rejected"
        )
        self.response = response

    @classmethod
    def check(cls, response: RetrieveResponse) -> RetrieveResponse:
        """The answer, or this error when its status is `insufficient_context`."""
        if response.status == "insufficient_context":
            raise cls(response)
        return response

    @property
    def request_id(self) -> str:
        return self.response.request_id

    @property
    def results(self) -> list[Result]:
        return self.response.results

    @property
    def rejected(self) -> list[Rejected]:
        return self.response.rejected
