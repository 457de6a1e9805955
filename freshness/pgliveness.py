"""Whether a pooled PostgreSQL connection still works, known at checkout without a round trip when it can be.

SQLAlchemy's `pool_pre_ping` sends a statement at every checkout: a round trip of its own, and a retrieval
checks out twice (its read, its audit record). Instead, a connection back from the pool is trusted when
nothing about it is in doubt:

- it went back to the pool less than `QUIET_FOR` seconds ago, and
- libpq holds it open and idle, and its socket has nothing to read. An idle connection is sent nothing by
  a server that is well: a server that stops or restarts, or that ends the session (an administrator's
  `pg_terminate_backend`, a failover), sends its last error message and closes the socket, which makes it
  readable at once.

Otherwise it is pinged as `pool_pre_ping` would (through `engine.dialect.do_ping`, bounded by
freshness.pgbounds), and a failed ping discards it and every connection pooled before it, as
`pool_pre_ping` does; the pool then connects anew. What a ping would catch and this cannot is a socket
that died silently within `QUIET_FOR` of its last use (a host lost without closing its connections): the
statement then fails, is reported as a database error (503), and SQLAlchemy discards the pool's
connections as it does after any disconnect.
"""

from __future__ import annotations

import select
import time
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Engine, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.pool import ConnectionPoolEntry

QUIET_FOR = 5.0  # seconds back in the pool past which a connection is pinged before it is used again
_CHECKED_IN = "freshness_checked_in"


def ping_when_in_doubt(engine: Engine) -> None:
    """Check `engine`'s pooled connections at checkout as the module docstring says (in place of pre-ping)."""
    dialect = engine.dialect

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        checked_in = record.info.pop(_CHECKED_IN, None)
        if checked_in is None:
            return  # a connection just made, not yet used
        if time.monotonic() - checked_in < QUIET_FOR and quiet(dbapi_conn):
            return
        try:
            dialect.do_ping(dbapi_conn)
        except psycopg.Error as exc:
            raise InvalidatePoolError(f"a pooled connection failed its ping: {exc}") from exc


def quiet(conn: psycopg.Connection) -> bool:
    """Open, idle, and nothing waiting to be read on its socket (no round trip)."""
    pgconn = conn.pgconn
    if (conn.closed or conn.broken or pgconn.status != pq.ConnStatus.OK
            or pgconn.transaction_status != pq.TransactionStatus.IDLE):
        return False
    try:
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN)
    except (psycopg.Error, OSError, ValueError, AttributeError):  # AttributeError: no poll() here (Windows)
        return False
    return not poller.poll(0)
