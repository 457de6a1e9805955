"""Bounds on every wait for PostgreSQL, so that a server that is down or hung costs a request about
FRESHNESS_DB_TIMEOUT and a 503, never a hang (SPEC §8).

- Connecting: libpq's `connect_timeout` (whole seconds; libpq never waits less than 2).
- A slow statement or lock wait: the server's `statement_timeout` ends it, and the connection stays
  usable.
- A server that stopped answering altogether (paused, overloaded host, gone from the network) never
  runs out its own `statement_timeout`, and TCP keepalives do not notice a paused process because
  its kernel still acknowledges every packet. The client therefore bounds each wait itself, a little
  longer than the server would, and then closes the connection (it is in an unknown state).
- A transaction whose client gave up must not commit later: a COMMIT can still sit unread in the
  socket of a paused server. `idle_in_transaction_session_timeout`, no longer than the client waits,
  ends that session first when the server resumes (its timer ran out while it was paused), so the
  COMMIT is never run; a statement the server was running when paused runs out its
  `statement_timeout` the same way and aborts the transaction.
"""

from __future__ import annotations

import inspect
import logging
import math
from typing import cast

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy import Engine, event

log = logging.getLogger("freshness.db")
# Older psycopg releases have no timeout on their waits: there only the server-side bounds apply.
CLIENT_BOUND = "timeout" in inspect.signature(psycopg.Connection.wait).parameters and hasattr(
    pg_errors, "_WaitTimeout")
CLIENT_SLACK = 0.5  # the client waits this much longer (at least), so the server's own timeout comes first
PING_WAIT = 1.0  # seconds a pooled connection's ping may take


class BoundedConnection(psycopg.Connection):
    """A psycopg connection that waits for the server at most `io_timeout` seconds per operation."""

    io_timeout: float | None = None

    def wait(self, gen, interval: float = 0.1, timeout: float | None = None):  # noqa: ANN001, ANN201
        bound = timeout if timeout is not None else self.io_timeout
        try:
            return super().wait(gen, interval=interval, timeout=bound)
        except pg_errors._WaitTimeout:  # noqa: SLF001 - psycopg's own signal that the bound ran out
            # Mid-protocol the connection cannot be reused; closing it also marks it as lost for the pool.
            self.pgconn.finish()
            raise psycopg.OperationalError(f"the database did not answer within {bound:g}s") from None


def client_wait(timeout: float) -> float:
    return timeout + max(CLIENT_SLACK, timeout / 5)


def bound_postgres(engine: Engine, timeout: float) -> None:
    """Connect through `BoundedConnection` with the server-side timeouts set for every session."""
    millis = max(1, int(timeout * 1000))
    server_options = (f"-c statement_timeout={millis} -c idle_in_transaction_session_timeout={millis}")
    wait = client_wait(timeout)
    if not CLIENT_BOUND:
        log.warning("psycopg %s cannot bound its waits: a database server that stops answering can hold"
                    " requests past FRESHNESS_DB_TIMEOUT; a newer psycopg 3 can", psycopg.__version__)
    connection_class = BoundedConnection if CLIENT_BOUND else psycopg.Connection

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):  # noqa: ANN001, ANN202
        cparams.setdefault("connect_timeout", max(2, math.ceil(timeout)))
        cparams["options"] = f"{cparams.get('options', '')} {server_options}".strip()
        conn = connection_class.connect(*cargs, **cparams)
        if CLIENT_BOUND:  # then connection_class is BoundedConnection
            cast(BoundedConnection, conn).io_timeout = wait
        return conn

    if not CLIENT_BOUND:
        return
    ping = engine.dialect.do_ping

    def bounded_ping(dbapi_connection) -> bool:  # noqa: ANN001
        # A live server answers a ping at once. A pooled connection to a server that stopped answering
        # must not cost the whole timeout before the pool tries a new connection (which costs another).
        previous = dbapi_connection.io_timeout
        dbapi_connection.io_timeout = min(previous or wait, PING_WAIT)
        try:
            return ping(dbapi_connection)
        finally:
            dbapi_connection.io_timeout = previous

    engine.dialect.do_ping = bounded_ping  # type: ignore[method-assign]  # on purpose: this engine's dialect only
