"""Key lookups run by the guard itself, on the event loop, where the database is a local SQLite file.

Every /v1 request looks its key up before its body is read (freshness.api.deps). Through a session on a
worker thread, that costs a thread hop there and back and a transaction's bookkeeping, several times the
indexed read itself. On SQLite the read is a read of a local file that never waits for a writer (WAL), so
the guard runs it in place, on a connection kept for the purpose:

- Each lookup is one statement in autocommit, with no transaction left open: it sees everything committed
  before it began, by this process or another one (`freshness keys revoke`), so a revoked key is refused
  on the next request, as through a session. Nothing is cached.
- The connection only reads (`query_only`), and waits at most BUSY_MS for a lock (a reader meets one only
  while another connection recovers the WAL): past that the request answers 503 rather than hold the loop.
- A connection that failed is closed and the next lookup opens another.

PostgreSQL is reached over the network, which must not hold the event loop: there `open_inline_keys`
gives None and the guard looks keys up on a worker thread, by `look_up_elsewhere`: one read on a pooled
connection, without a session's bookkeeping (a fifth of the lookup's CPU on PostgreSQL).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, cast

from sqlalchemy import Engine

from freshness.auth.keys import BY_HASH, Principal, authenticate, key_hash_of, principal_of
from freshness.db import read_engine
from freshness.dbfaults import as_unavailable, is_unavailable

BUSY_MS = 200


class InlineKeys:
    """Looks keys up on a connection of its own; for an SQLite file only (see `open_inline_keys`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        compiled = BY_HASH.compile(dialect=engine.dialect)
        self._sql = compiled.string
        self._positions = compiled.positiontup or []
        self._lock = threading.Lock()
        self._pooled: Any = None  # the pool's wrapper of the connection, detached from the pool
        self._connection: sqlite3.Connection | None = None

    def authenticate(self, header: str | None) -> Principal:
        """The caller of a request with this `Authorization` header: 401 as `authenticate` gives it, 503 when the
        database cannot be read."""
        digest = key_hash_of(header)  # a missing or malformed key is refused before any read
        params = tuple(digest for _ in self._positions)
        with self._lock:
            try:
                # Every row fetched, so that the statement is done and holds no read transaction open.
                rows = self._connect().execute(self._sql, params).fetchall()
            except sqlite3.Error as exc:
                self._close()
                if is_unavailable(exc):
                    raise as_unavailable(exc) from exc
                raise
        return principal_of(rows[0] if rows else None)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # From the engine, so that it is opened as every connection of the service is (its pragmas,
            # autocommit), then taken out of the pool for good.
            pooled = self._engine.raw_connection()
            connection = cast(sqlite3.Connection, pooled.driver_connection)
            pooled.detach()
            try:
                connection.execute("PRAGMA query_only = ON")
                connection.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            except BaseException:
                pooled.close()
                raise
            self._pooled, self._connection = pooled, connection
        return self._connection

    def _close(self) -> None:
        pooled, self._pooled, self._connection = self._pooled, None, None
        if pooled is not None:
            pooled.close()


def look_up_elsewhere(engine: Engine, header: str | None) -> Principal:
    """The caller, read on a connection of the engine's pool in a read-only unit of work (it never takes
    SQLite's write lock; on PostgreSQL one statement in autocommit, freshness.db.read_engine); for a worker
    thread, where the guard cannot read in place."""
    with read_engine(engine).connect() as conn:  # SQLite: rolled back when it closes
        return authenticate(conn, header)


def open_inline_keys(engine: Engine) -> InlineKeys | None:
    """Inline lookups for an engine on an SQLite file; None for any other database (and an in-memory one,
    which a connection of its own would not see)."""
    if engine.dialect.name != "sqlite" or engine.dialect.driver != "pysqlite":
        return None
    database = engine.url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        return None
    return InlineKeys(engine)
