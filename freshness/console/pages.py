"""Rendering console pages, and the console's answers to refusals and failures.

A refusal on a console page is a page, with the same words the API's problem details would carry
(the services raise the same exceptions); no session at all is a redirect to the sign-in page.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, PermissionDeniedException, ValidationException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from freshness.api.deps import PRINCIPAL
from freshness.auth.keys import Principal
from freshness.console.session import COOKIE, SignInRequired
from freshness.dbfaults import as_unavailable, is_unavailable
from freshness.errors import FreshnessError

log = logging.getLogger("freshness.console")
LOGIN = "/console/login"
CSRF_REFUSED = ("The form's security token is missing or does not match this browser's. Reload the page and "
                "send the form again.")


def viewer_of(request: Request) -> Principal | None:
    principal = request.scope.get("state", {}).get(PRINCIPAL)
    return principal if isinstance(principal, Principal) else None


def page(request: Request, template: str, status: int = 200, **context: Any) -> Template:
    """A console page: every template gets the signed-in key (`viewer`) for its header."""
    return Template(template_name=template, status_code=status,
                    context={"viewer": viewer_of(request), "here": request.url.path, **context})


def _sign_in_first(request: Request, _: SignInRequired) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    redirect = Redirect(f"{LOGIN}?next={quote(target, safe='')}", status_code=303)
    if COOKIE in request.cookies:
        redirect.delete_cookie(COOKIE, path="/console")
    return redirect


def _domain(request: Request, exc: FreshnessError) -> Response:
    return page(request, "refusal.html", exc.status, title=exc.title, detail=exc.detail)


def _http(request: Request, exc: HTTPException) -> Response:
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        return page(request, "refusal.html", 403, title="The form has expired", detail=CSRF_REFUSED)
    if isinstance(exc, ValidationException):
        messages = exc.extra if isinstance(exc.extra, list) else []
        first = messages[0] if messages and isinstance(messages[0], dict) else {}
        detail = f"{first.get('key')}: {first.get('message')}" if first else str(exc.detail)
        return page(request, "refusal.html", 422, title="The request is invalid", detail=detail)
    return page(request, "refusal.html", exc.status_code, title=str(exc.detail), detail=str(exc.detail))


def _unexpected(request: Request, exc: Exception) -> Response:
    if is_unavailable(exc):
        return _domain(request, as_unavailable(exc))
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return page(request, "refusal.html", 500, title="Internal error",
                detail="An unexpected error occurred; it has been logged.")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    SignInRequired: _sign_in_first,
    FreshnessError: _domain,
    HTTPException: _http,
    Exception: _unexpected,
}
