"""What a handler may ask for by name, provided by Litestar's dependency injection.

A handler's signature says what it touches:

- `principal: Principal` — the caller. The `authenticated` guard looks the key up before the body is
  read, so a caller without a valid key learns that first (401, then 403, before 413 and 422).
- `reads: Session` — a read transaction: it never takes SQLite's write lock nor waits for a writer.
- `writes: Writes` — a unit of work that commits at the request boundary; a deadlock or a
  serialisation failure runs it again (freshness.db.transaction).
- `policy: Policy` — the policy in force, read once for the whole request, so a reload in the middle
  cannot mix a task class of one version with the `policy_version` of another.
- `clock`, `store`, `settings`, `runtime` — the service's resources.
- `context: Context` — the principal, the policy and the runtime in one, for a handler on the hot path
  (see RequestContext).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.orm import Session, sessionmaker

from freshness.auth.guards import require_role
from freshness.auth.inline import InlineKeys, look_up_elsewhere
from freshness.auth.keys import Principal, Role
from freshness.clock import Clock
from freshness.db import read_scope, transaction
from freshness.policy.model import Policy
from freshness.runtime import Runtime
from freshness.settings import Settings
from freshness.vectorstore import VectorStore

T = TypeVar("T")
PRINCIPAL = "freshness_principal"
INLINE_KEYS = "inline_keys"
"""Where the app keeps its inline key lookups (freshness.auth.inline), when its database allows them."""
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
"""The security requirement of every /v1 operation, for the OpenAPI document."""


def runtime_of(connection: ASGIConnection) -> Runtime:
    return connection.app.state.runtime


async def authenticated(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard of every /v1 route: look the key up (in a read that takes no write lock) and keep the principal.

    On an SQLite file the guard reads the key itself, without a worker thread (freshness.auth.inline);
    elsewhere the read runs on a worker thread, so that a slow database never holds the event loop."""
    header = connection.headers.get("authorization")
    inline: InlineKeys | None = connection.app.state.get(INLINE_KEYS)
    if inline is not None:
        principal = inline.authenticate(header)
    else:
        principal = await anyio.to_thread.run_sync(look_up_elsewhere, runtime_of(connection).engine, header)
    connection.scope.setdefault("state", {})[PRINCIPAL] = principal


def allow(*roles: Role) -> Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]:
    """A guard that lets the given roles, and admins, through; it runs after `authenticated`.

    A coroutine although it never awaits: Litestar runs a plain function guard on a worker thread, a thread
    hop there and back on every request for a check of one field."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        require_role(connection.scope["state"][PRINCIPAL], *roles)

    guard.__name__ = f"allow_{'_'.join(r.value for r in roles) or 'admin'}"
    return guard


ADMIN_ONLY = allow()


@dataclass(frozen=True)
class Writes:
    """Runs a unit of work in one write transaction, committed before the response is sent."""

    sessions: sessionmaker[Session]

    def __call__(self, work: Callable[[Session], T]) -> T:
        return transaction(self.sessions, work)


@dataclass(frozen=True)
class RequestContext:
    """The caller, the policy read once for the request, and the service: one dependency instead of three.

    Litestar resolves a handler's dependencies of one level concurrently, each in a task of its own, once
    there is more than one; a single dependency is resolved in place. On the retrieve path those tasks cost
    more per request than the key lookup, so its handler names this one."""

    principal: Principal
    policy: Policy
    runtime: Runtime


def _context(request: ASGIConnection) -> RequestContext:
    runtime = runtime_of(request)
    return RequestContext(request.scope["state"][PRINCIPAL], runtime.policy.current, runtime)


def _principal(request: ASGIConnection) -> Principal:
    return request.scope["state"][PRINCIPAL]


async def _reads(request: ASGIConnection) -> AsyncGenerator[Session, None]:
    scope = read_scope(runtime_of(request).sessions)
    session = scope.__enter__()
    try:
        yield session
    except BaseException as exc:
        await anyio.to_thread.run_sync(scope.__exit__, type(exc), exc, exc.__traceback__)
        raise
    await anyio.to_thread.run_sync(scope.__exit__, None, None, None)


def _writes(request: ASGIConnection) -> Writes:
    return Writes(runtime_of(request).sessions)


def _policy(request: ASGIConnection) -> Policy:
    return runtime_of(request).policy.current


def _clock(request: ASGIConnection) -> Clock:
    return runtime_of(request).clock


def _store(request: ASGIConnection) -> VectorStore:
    return runtime_of(request).store


def _settings(request: ASGIConnection) -> Settings:
    return runtime_of(request).settings


def _runtime(request: ASGIConnection) -> Runtime:
    return runtime_of(request)


# How a handler names what it needs: the parameter name picks the dependency, the alias its type.
Caller: TypeAlias = NamedDependency[Principal]
ReadSession: TypeAlias = NamedDependency[Session]
WriteSession: TypeAlias = NamedDependency[Writes]
CurrentPolicy: TypeAlias = NamedDependency[Policy]
ServiceClock: TypeAlias = NamedDependency[Clock]
Store: TypeAlias = NamedDependency[VectorStore]
ServiceSettings: TypeAlias = NamedDependency[Settings]
Service: TypeAlias = NamedDependency[Runtime]
Context: TypeAlias = NamedDependency[RequestContext]

DEPENDENCIES: dict[str, Any] = {
    "principal": Provide(_principal, sync_to_thread=False),
    "reads": Provide(_reads),
    "writes": Provide(_writes, sync_to_thread=False),
    "policy": Provide(_policy, sync_to_thread=False),
    "clock": Provide(_clock, sync_to_thread=False),
    "store": Provide(_store, sync_to_thread=False),
    "settings": Provide(_settings, sync_to_thread=False),
    "runtime": Provide(_runtime, sync_to_thread=False),
    "context": Provide(_context, sync_to_thread=False),
}
"""Registered on the app: each handler names the ones it needs."""
