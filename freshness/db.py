"""Engine, session factory and the transaction boundary used by requests, jobs and the CLI.

With a timeout (the service passes FRESHNESS_DB_TIMEOUT), no wait for the database is unbounded:
connecting, a pool checkout, a statement, SQLite's write lock. Past it the work fails with an error
that `freshness.dbfaults` calls unavailable, and the request answers 503. Without one (migrations,
the CLI) long statements may run as long as they need.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, MetaData, create_engine, event, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.engine import ExceptionContext
    from sqlalchemy.pool import ConnectionPoolEntry

from freshness.dbfaults import DatabaseUnavailable, refuses_writes, retrying, write_health
from freshness.private_paths import make_private_sqlite_file

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


SQLITE_POOL = 40  # anyio's default worker thread limit
UNBOUNDED_WAIT = 30.0  # SQLite's lock waits and pool checkouts without a timeout (CLI, migrations)
DB_TIMEOUT = "freshness_db_timeout"


def make_engine(url: str, timeout: float | None = None) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and enforced foreign keys.

    `timeout` (seconds) bounds every wait for the database; see the module docstring."""
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url, timeout)
    else:
        parsed = make_url(url)
        psycopg = parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg"
        # psycopg's connections are checked at checkout by freshness.pgliveness, mostly without a round trip.
        engine = create_engine(url, pool_pre_ping=not psycopg, pool_size=10, max_overflow=20,
                               pool_timeout=timeout or UNBOUNDED_WAIT,
                               execution_options={DB_TIMEOUT: timeout})
        if psycopg:
            from freshness.pgbounds import bound_postgres
            from freshness.pgliveness import ping_when_in_doubt

            if timeout is not None:
                bound_postgres(engine, timeout)
            ping_when_in_doubt(engine)
    health = write_health(engine)

    @event.listens_for(engine, "handle_error")
    def _watch_writes(context: ExceptionContext) -> None:
        if refuses_writes(context.original_exception):
            health.refused(context.original_exception)

    return engine


def _sqlite_engine(url: str, timeout: float | None) -> Engine:
    wait = timeout or UNBOUNDED_WAIT
    path = make_url(url).database
    if path and path != ":memory:" and not path.startswith("file:"):
        make_private_sqlite_file(Path(path))
    # As many pooled connections as worker threads: a connection opened past the pool is closed
    # after use, and opening one (WAL pragmas included) costs more than a retrieval's queries.
    engine = create_engine(url, connect_args={"timeout": wait, "check_same_thread": False},
                           pool_size=SQLITE_POOL, max_overflow=SQLITE_POOL, pool_timeout=wait,
                           execution_options={DB_TIMEOUT: timeout})
    health = write_health(engine)
    # SQLite has one writer at a time. Threads of this process queue for it here; left to SQLite's
    # busy handler they would poll with sleeps of up to 100 ms and come out in no order.
    writer = threading.Lock()

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy issue BEGIN itself so that BEGIN IMMEDIATE can be used for writes.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a transaction that reads and then writes
        # cannot fail halfway with SQLITE_BUSY because another writer went first.
        # Read-only units of work (read_scope) take a plain deferred BEGIN: under WAL they read a
        # consistent snapshot without waiting for, or blocking, the one writer.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        queued = time.monotonic()
        if not writer.acquire(timeout=wait):
            exc = DatabaseUnavailable("the database's write lock was not free within FRESHNESS_DB_TIMEOUT;"
                                      " retry shortly")
            health.refused(exc)
            raise exc
        conn.info[_HOLDS_WRITER] = writer
        waited = time.monotonic() - queued
        try:
            # The queue and SQLite's busy handler share one budget: a writer that waited for its turn
            # here waits only the rest of it for a lock that another process holds.
            shortened = waited > _SHORTEN_AFTER
            if shortened or conn.info.get(_SHORTENED):
                left = wait - waited if shortened else wait
                conn.exec_driver_sql(f"PRAGMA busy_timeout={max(1, int(left * 1000))}")
                conn.info[_SHORTENED] = shortened
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release_writer(conn.info)
            raise

    @event.listens_for(engine, "commit")
    def _sqlite_commit(conn: Connection) -> None:
        # Fired just before the COMMIT: the next writer's BEGIN IMMEDIATE meets SQLite's busy
        # handler for at most the commit itself.
        _release_writer(conn.info)

    @event.listens_for(engine, "rollback")
    def _sqlite_rollback(conn: Connection) -> None:
        _release_writer(conn.info)

    @event.listens_for(engine.pool, "checkin")
    def _sqlite_checkin(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        # Whatever happened to the transaction, a connection back in the pool holds no turn.
        _release_writer(record.info)

    return engine


_HOLDS_WRITER = "freshness_holds_writer"
_SHORTENED = "freshness_busy_timeout_shortened"
_SHORTEN_AFTER = 0.05  # seconds in the queue past which SQLite's own wait is cut to what is left


def _release_writer(info: dict) -> None:
    lock = info.pop(_HOLDS_WRITER, None)
    if lock is not None:
        lock.release()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


T = TypeVar("T")
READ_ONLY = "freshness_read_only"
_read_binds: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _read_bind(factory: sessionmaker[Session]) -> Engine:
    return read_engine(factory.kw["bind"])


def read_engine(engine: Engine) -> Engine:
    """`engine` for units of work that only read (`read_scope`, `read_connection`, the key lookup)."""
    bind = _read_binds.get(engine)
    if bind is None:
        # Shares the engine's pool; only the BEGIN it issues differs. PostgreSQL reads with no transaction
        # at all (autocommit): under READ COMMITTED each statement takes its own snapshot anyway, so a
        # transaction around reads only costs its BEGIN and ROLLBACK round trips, and psycopg follows every
        # ROLLBACK with a DEALLOCATE ALL (a third one) that also throws away its prepared statements.
        options: dict[str, Any] = {READ_ONLY: True}
        if engine.dialect.name == "postgresql":
            options["isolation_level"] = "AUTOCOMMIT"
        bind = _read_binds.setdefault(engine, engine.execution_options(**options))
    return bind


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def timeout_of(factory: sessionmaker[Session]) -> float | None:
    """The timeout the factory's engine was made with (None: unbounded)."""
    return factory.kw["bind"].get_execution_options().get(DB_TIMEOUT)


def transaction(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """`work` as one unit of work (see `session_scope`), run again after a deadlock or a serialisation
    failure: it is rolled back whole, so running it again is safe. What still fails is raised."""

    def once() -> T:
        with session_scope(factory) as session:
            return work(session)

    return retrying(once, budget=timeout_of(factory))


@contextmanager
def read_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads: it never takes SQLite's write lock, and writes nothing.

    Everything it reads comes from one consistent snapshot of the database (SQLite WAL; on
    PostgreSQL, each statement sees what was committed when it started: it runs in autocommit, each
    statement a transaction of its own, which is what READ COMMITTED gives a transaction's statements)."""
    session = factory(bind=_read_bind(factory))
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@contextmanager
def read_connection(factory: sessionmaker[Session]) -> Iterator[Connection]:
    """`read_scope` on a bare connection, for a unit of work that runs statements and no ORM (the
    session's bookkeeping cost as much as a short read)."""
    with _read_bind(factory).connect() as conn:  # SQLite: rolled back when it closes (PostgreSQL: autocommit)
        yield conn
