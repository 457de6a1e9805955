"""Signing in (an API key exchanged for a session cookie) and signing out."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from freshness.api import Service
from freshness.auth.keys import Principal, Role, authenticate
from freshness.console.pages import page
from freshness.console.session import SessionCookies, over_tls
from freshness.db import read_scope
from freshness.errors import Unauthorized

COOKIES_OPT = "console_cookies"
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


class SignInForm(msgspec.Struct):
    key: str = ""
    next: FromQuery[str] = ""


def cookies_of(request: Request) -> SessionCookies:
    return request.route_handler.opt[COOKIES_OPT]


def landing(principal: Principal, wanted: str) -> str:
    """Where sign-in leads: the page asked for when it is a console page (never another site), else the
    page the role uses most."""
    if wanted.startswith("/console/") and not wanted.startswith(("/console/login", "/console/logout")) \
            and "//" not in wanted and "\\" not in wanted:
        return wanted
    return "/console/requests" if principal.role in (Role.AUDITOR, Role.ADMIN) else "/console/freshness"


@get("/login", include_in_schema=False, sync_to_thread=False)
def login_page(request: Request, next: FromQuery[str] = "", signed_out: FromQuery[bool] = False) -> Template:
    return page(request, "login.html", next=next, signed_out=signed_out, error=None)


@post("/login", include_in_schema=False, sync_to_thread=True, status_code=303)
def sign_in(request: Request, data: Annotated[SignInForm, FORM], runtime: Service) -> Response:
    """The key is checked as the API checks a bearer key; the cookie then holds only the key's id."""
    if not data.key.strip():
        return page(request, "login.html", 401, next=data.next, signed_out=False,
                    error="Enter your API key: fk_ followed by 32 or more characters.")
    try:
        with read_scope(runtime.sessions) as session:
            principal = authenticate(session, f"Bearer {data.key.strip()}")
    except Unauthorized as exc:
        # The key typed is never sent back, not even into the form.
        return page(request, "login.html", 401, next=data.next, signed_out=False, error=exc.detail)
    response = Redirect(landing(principal, data.next), status_code=303)
    cookies_of(request).issue(response, principal, runtime.clock.now(), over_tls(request))
    return response


@post("/logout", include_in_schema=False, sync_to_thread=False, status_code=303)
def sign_out(request: Request) -> Response:
    response = Redirect("/console/login?signed_out=true", status_code=303)
    cookies_of(request).clear(response, over_tls(request))
    return response
