"""Console sessions: an API key exchanged at sign-in for a signed cookie that holds the key's id.

The cookie never holds the key itself. It is `HttpOnly` (no script reads it), `SameSite=Strict` (no other
site's page sends it), scoped to /console, `Secure` when the request came over TLS or the
`console_secure_cookie` setting says so, and lasts at most SESSION_SECONDS. Every page looks the key up
again by its id, so a key revoked by any process ends its sessions with the next page.

The principal found is kept where the /v1 guard keeps it, so the console's pages are guarded by the
same `allow(...)` guards and call the same services (with their owner checks) as the HTTP API.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

import anyio.to_thread
from litestar import Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.orm import Session

from freshness.api.deps import PRINCIPAL, runtime_of
from freshness.auth.keys import Principal, Role
from freshness.db import read_scope
from freshness.models import ApiKey

COOKIE = "freshness_console"
COOKIE_PATH = "/console"
SESSION_SECONDS = 12 * 3600


class SignInRequired(Exception):
    """No session, or one that no longer holds: the page answers with a redirect to the sign-in page."""


@dataclass(frozen=True, repr=False)
class SessionCookies:
    """Makes and checks the session cookie with the console's session key."""

    key: bytes
    always_secure: bool

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self.key, payload, hashlib.sha256).digest())

    def issue(self, response: Response, principal: Principal, now: datetime, over_tls: bool) -> None:
        payload = json.dumps({"key_id": principal.key_id, "at": int(now.timestamp())}, separators=(",", ":"))
        value = f"{_b64(payload.encode())}.{self._sign(payload.encode())}"
        response.set_cookie(Cookie(key=COOKIE, value=value, path=COOKIE_PATH, max_age=SESSION_SECONDS,
                                   httponly=True, samesite="strict", secure=self.always_secure or over_tls))

    def clear(self, response: Response, over_tls: bool) -> None:
        response.set_cookie(Cookie(key=COOKIE, value="", path=COOKIE_PATH, max_age=0, expires=0, httponly=True,
                                   samesite="strict", secure=self.always_secure or over_tls))

    def key_id(self, value: str | None, now: datetime) -> str | None:
        """The key id a cookie vouches for, or None when it is missing, forged, altered or too old."""
        if not value or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        try:
            payload = _unb64(body)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(payload)
            key_id, issued = str(data["key_id"]), int(data["at"])
        except (ValueError, KeyError, TypeError):
            return None
        age = now.timestamp() - issued
        return key_id if 0 <= age <= SESSION_SECONDS else None

    async def guard(self, connection: ASGIConnection, _: BaseRouteHandler) -> None:
        """Guard of every console page but sign-in: find the session's key, still valid, or send to sign-in."""
        runtime = runtime_of(connection)
        key_id = self.key_id(connection.cookies.get(COOKIE), runtime.clock.now())
        if key_id is None:
            raise SignInRequired

        def look_up() -> Principal | None:
            with read_scope(runtime.sessions) as session:
                return principal_by_id(session, key_id)

        principal = await anyio.to_thread.run_sync(look_up)
        if principal is None:
            raise SignInRequired
        connection.scope.setdefault("state", {})[PRINCIPAL] = principal


def principal_by_id(session: Session, key_id: str) -> Principal | None:
    """The key with this id as a principal; None once it is revoked or gone."""
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    return Principal(key_id=row.id, name=row.name, role=Role(row.role), owner=row.owner)


def over_tls(connection: ASGIConnection) -> bool:
    return connection.url.scheme == "https"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
