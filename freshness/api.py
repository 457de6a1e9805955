"""HTTP plumbing shared by the controllers: the runtime, the caller's key, and problem details."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from sqlalchemy.orm import Session

from freshness.auth.guards import require_role
from freshness.auth.keys import Principal, Role, authenticate
from freshness.db import read_scope, transaction
from freshness.dbfaults import as_unavailable, is_unavailable
from freshness.errors import FreshnessError
from freshness.runtime import Runtime

log = logging.getLogger("freshness.api")
PROBLEM = "application/problem+json"
TYPE_BASE = "https://freshness.dev/problems/"
T = TypeVar("T")


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


def problem(status: int, type_: str, title: str, detail: str, instance: str | None = None, **extra: Any) -> Response:
    body = {"type": TYPE_BASE + type_, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(content=body, status_code=status, media_type=PROBLEM, headers=headers)


def handle_domain_error(request: Request, exc: FreshnessError) -> Response:
    return problem(exc.status, exc.type, exc.title, exc.detail, request.url.path, **exc.extra)


def handle_http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return problem(400, "bad-request", "Request is invalid", str(exc.detail), request.url.path)
    if status == 413:
        limit = runtime_of(request).settings.max_body
        return problem(413, "payload-too-large", "Request body is too large",
                       f"the request body exceeds the limit of {limit} bytes (FRESHNESS_MAX_BODY)", request.url.path)
    if isinstance(exc, NotFoundException) or status == 404:
        return problem(404, "not-found", "Not found", f"no route for {request.method} {request.url.path}",
                       request.url.path)
    if status == 405:
        # RFC 9110 §15.5.6: a 405 names the methods the resource takes; the router put them in the exception.
        allow = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow")
        answer = problem(405, "method-not-allowed", "Method not allowed",
                         f"{request.method} is not allowed on {request.url.path}"
                         + (f"; use {allow}" if allow else ""), request.url.path)
        if allow:
            answer.set_header("Allow", allow)
        return answer
    return problem(status, "http-error", "Request failed", str(exc.detail), request.url.path)


def handle_unexpected(request: Request, exc: Exception) -> Response:
    if is_unavailable(exc):
        # Down, hung, full or locked: an outage to retry, not a bug (SPEC §8).
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return handle_domain_error(request, as_unavailable(exc))
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "internal-error", "Internal error", "an unexpected error occurred; it has been logged",
                   request.url.path)


EXCEPTION_HANDLERS = {
    FreshnessError: handle_domain_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}


async def call(request: Request, roles: tuple[Role, ...] | None, work: Callable[[Runtime, Principal], T]) -> T:
    """Authenticate, check the role, then run blocking work in a worker thread."""
    runtime = runtime_of(request)
    header = request.headers.get("authorization")

    def run() -> T:
        principal = who(runtime, header)
        if roles is not None:
            require_role(principal, *roles)
        return work(runtime, principal)

    return await anyio.to_thread.run_sync(run)


def who(runtime: Runtime, header: str | None) -> Principal:
    with read_scope(runtime.sessions) as session:
        return authenticate(session, header)


def in_transaction(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """One unit of work: the request boundary commits (after a deadlock, the whole of it runs again)."""
    return transaction(runtime.sessions, work)


def in_read(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """A unit of work that only reads: it never takes SQLite's write lock nor waits for a writer."""
    with read_scope(runtime.sessions) as session:
        return work(session)


ANY_KEY: tuple[Role, ...] | None = None
