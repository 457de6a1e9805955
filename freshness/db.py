"""Engine, session factory and the transaction boundary used by requests, jobs and the CLI."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

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


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # As many pooled connections as worker threads: a connection opened past the pool is closed
        # after use, and opening one (WAL pragmas included) costs more than a retrieval's queries.
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=SQLITE_POOL, max_overflow=SQLITE_POOL)
        # SQLite has one writer at a time. Threads of this process queue for it here; left to SQLite's
        # busy handler they would poll with sleeps of up to 100 ms and come out in no order.
        writer = threading.Lock()

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            # Let SQLAlchemy issue BEGIN itself so that BEGIN IMMEDIATE can be used for writes.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            # IMMEDIATE takes the write lock up front: a transaction that reads and then writes
            # cannot fail halfway with SQLITE_BUSY because another writer went first.
            # Read-only units of work (read_scope) take a plain deferred BEGIN: under WAL they read a
            # consistent snapshot without waiting for, or blocking, the one writer.
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
                return
            # A thread that already writes and opens a second write transaction waits the busy timeout
            # here, then meets SQLite's own lock, as it did without this queue.
            if writer.acquire(timeout=WRITER_WAIT):
                conn.info[_HOLDS_WRITER] = writer
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                _release_writer(conn.info)
                raise

        @event.listens_for(engine, "commit")
        def _sqlite_commit(conn):  # noqa: ANN001
            # Fired just before the COMMIT: the next writer's BEGIN IMMEDIATE meets SQLite's busy
            # handler for at most the commit itself.
            _release_writer(conn.info)

        @event.listens_for(engine, "rollback")
        def _sqlite_rollback(conn):  # noqa: ANN001
            _release_writer(conn.info)

        @event.listens_for(engine.pool, "checkin")
        def _sqlite_checkin(_dbapi_conn, record):  # noqa: ANN001
            # Whatever happened to the transaction, a connection back in the pool holds no turn.
            _release_writer(record.info)

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


WRITER_WAIT = 30.0
_HOLDS_WRITER = "freshness_holds_writer"


def _release_writer(info: dict) -> None:
    lock = info.pop(_HOLDS_WRITER, None)
    if lock is not None:
        lock.release()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


READ_ONLY = "freshness_read_only"
_read_binds: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _read_bind(factory: sessionmaker[Session]) -> Engine:
    engine = factory.kw["bind"]
    bind = _read_binds.get(engine)
    if bind is None:
        # Shares the engine's pool; only the BEGIN it issues differs.
        bind = _read_binds[engine] = engine.execution_options(**{READ_ONLY: True})
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


@contextmanager
def read_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads: it never takes SQLite's write lock, and writes nothing.

    Everything it reads comes from one consistent snapshot of the database (SQLite WAL; on
    PostgreSQL, each statement sees what was committed when it started)."""
    session = factory(bind=_read_bind(factory))
    try:
        yield session
    finally:
        session.rollback()
        session.close()
