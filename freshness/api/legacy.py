"""Handlers that take the raw request and run their work through `call`: authenticate, check the role,
then run blocking work in a worker thread. Typed handlers use freshness.api.deps instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from litestar import Request
from sqlalchemy.orm import Session

from freshness.auth.guards import require_role
from freshness.auth.keys import Principal, Role, authenticate
from freshness.db import read_scope, transaction
from freshness.runtime import Runtime

T = TypeVar("T")
ANY_KEY: tuple[Role, ...] | None = None


async def call(request: Request, roles: tuple[Role, ...] | None, work: Callable[[Runtime, Principal], T]) -> T:
    runtime: Runtime = request.app.state.runtime
    header = request.headers.get("authorization")

    def run() -> T:
        with read_scope(runtime.sessions) as session:
            principal = authenticate(session, header)
        if roles is not None:
            require_role(principal, *roles)
        return work(runtime, principal)

    return await anyio.to_thread.run_sync(run)


def in_transaction(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """One unit of work: the request boundary commits (after a deadlock, the whole of it runs again)."""
    return transaction(runtime.sessions, work)


def in_read(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """A unit of work that only reads: it never takes SQLite's write lock nor waits for a writer."""
    with read_scope(runtime.sessions) as session:
        return work(session)
