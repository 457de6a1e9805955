"""The one place errors become RFC 9457 problem details, and where the OpenAPI document learns their shape.

Every error the service answers with is `application/problem+json` with a stable `type`: domain
exceptions (freshness.errors), Litestar's own HTTP errors (unknown route, wrong method, body too
large, a parameter of the wrong type) and outages of the database (503).
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any, Literal, get_args, get_origin

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from freshness.dbfaults import as_unavailable, is_unavailable
from freshness.errors import FreshnessError, Problem

log = logging.getLogger("freshness.api")
PROBLEM = "application/problem+json"
TYPE_BASE = "https://freshness.dev/problems/"


def problem(status: int, type_: str, title: str, detail: str, instance: str | None = None, **extra: Any) -> Response:
    body = {"type": TYPE_BASE + type_, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(content=body, status_code=status, media_type=PROBLEM, headers=headers)


def handle_domain_error(request: Request, exc: FreshnessError) -> Response:
    return problem(exc.status, exc.type, exc.title, exc.detail, request.url.path, **exc.extra)


def _validation_problem(request: Request, exc: ValidationException) -> Response:
    """A path or query parameter of the wrong type or out of bounds (422), or a missing body (400)."""
    messages = exc.extra if isinstance(exc.extra, list) else []
    first = messages[0] if messages and isinstance(messages[0], dict) else {}
    key, message = first.get("key"), str(first.get("message", ""))
    if key == "data" and first.get("source") == "body":
        return problem(400, "malformed-json", "Request body is not valid JSON",
                       "the request body is empty; send a JSON object", request.url.path)
    detail = f"{key}: {message}" if key else str(exc.detail)
    choices = _choices(request, key) if message.startswith("Invalid enum value") else []
    if choices:
        detail += f"; use one of: {', '.join(choices)}"
    return problem(422, "invalid-input", "Request is invalid", detail, request.url.path, field=key)


def _choices(request: Request, key: str | None) -> list[str]:
    """The values an enum parameter takes (a Literal or an Enum in the handler's signature)."""
    for field in request.route_handler.parsed_fn_signature.parameters.values():
        aliases = (getattr(field.kwarg_definition, "query", None), getattr(field.kwarg_definition, "name", None))
        if key == field.name or key in aliases:
            return _values(field.annotation)
    return []


def _values(annotation: Any) -> list[str]:
    if get_origin(annotation) is Literal:
        return [str(value) for value in get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(member.value) for member in annotation]
    return [value for arg in get_args(annotation) for value in _values(arg)]


def handle_http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return _validation_problem(request, exc)
    if status == 413:
        limit = request.app.state.runtime.settings.max_body
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
    if status == 400:
        # Litestar's own 400 for a body it could not read as JSON.
        return problem(400, "malformed-json", "Request body is not valid JSON", str(exc.detail), request.url.path)
    return problem(status, "http-error", "Request failed", str(exc.detail), request.url.path)


def handle_unexpected(request: Request, exc: Exception) -> Response:
    if is_unavailable(exc):
        # Down, hung, full or locked: an outage to retry, not a bug (SPEC §8).
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return handle_domain_error(request, as_unavailable(exc))
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "internal-error", "Internal error", "an unexpected error occurred; it has been logged",
                   request.url.path)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    FreshnessError: handle_domain_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}

_MEANING = {
    400: "The body is not valid JSON, or is missing",
    401: "No valid API key (send `Authorization: Bearer <key>`)",
    403: "The key's role or owner may not do this",
    404: "Nothing with that id",
    409: "Conflicts with the current state",
    413: "The body is larger than FRESHNESS_MAX_BODY",
    422: "A field, path or query parameter is invalid; `field` names it",
    503: "The database or the vector store is unavailable; retry shortly",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers of an operation, for the OpenAPI document: problem details, by status."""
    return {
        status: ResponseSpec(data_container=Problem, media_type=PROBLEM, description=_MEANING[status],
                             generate_examples=False)
        for status in statuses
    }
