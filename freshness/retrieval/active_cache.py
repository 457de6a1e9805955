"""The active set, kept in the process and revalidated by one read inside every transaction that uses it.

A retrieval needs, for each live source's active snapshot, the facts its verdicts and its record are made
of: the source (id, title, owner, uri, class, tags) and the snapshot (version, times, content hash). They
change only when a snapshot starts or stops being active, a source is retired, an active snapshot's
`verified_at` rises, or a live source's title, uri, class or tags change. Each of those changes, in its
own transaction, writes a new serving token: a random value in the `service_state` row SERVING_KEY
(`serving_changed`, called by sources.lifecycle and sources.service). A retrieval reads the token first
in its read transaction (one primary-key read); when it is the token the cache was loaded under, the
cache is what the database holds, else the rows are read again in that same transaction.

Why no replica serves what another one changed (SPEC §6): a change committed before the retrieval began
has written its token by then, and the token is new (random, never reused), so it differs from the one
any process cached before the change. The token is read before the rows: on PostgreSQL each statement of
a read-committed transaction sees at least what the one before it saw, so the rows are at least as new
as the token they are kept under; a later change only makes the next retrieval read them again.

Lock order: the token's row is written after the source row is locked (every change above is made under
it) and no writer locks a source after it; retrievals only read it. Concurrent changes wait for each
other on that row until commit, which orders their tokens as their commits.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Table, bindparam, literal_column, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from freshness.audit.record import SnapshotFacts, SourceFacts
from freshness.models import ServiceState, Snapshot, SnapshotState, Source

SERVING_KEY = "serving_generation"
# The serving sequence number (sources.serving): what the store search leaves out depends on it.
SERVING_SEQ_KEY = "serving_seq"

_STATE = cast(Table, ServiceState.__table__)
_SOURCES = cast(Table, Source.__table__)
_SNAPSHOTS = cast(Table, Snapshot.__table__)
# Literals rather than bound values: the statement is run as compiled once, with no parameters, and SQLite
# plans `state = 'active'` against the partial index on it.
# The token, the serving sequence number and the snapshots being published, in one statement: what the
# store search must leave out is read in every transaction, whether the copy of the rows serves or not.
_TOKEN = union_all(
    select(_STATE.c.key, _STATE.c.value)
    .where(_STATE.c.key.in_([literal_column(f"'{SERVING_KEY}'"), literal_column(f"'{SERVING_SEQ_KEY}'")])),
    select(literal_column("''"), _SNAPSHOTS.c.id)
    .where(_SNAPSHOTS.c.state == literal_column(f"'{SnapshotState.INGESTING.value}'")),
)
_ROWS = (
    select(_SOURCES.c.id, _SOURCES.c.title, _SOURCES.c.owner, _SOURCES.c.uri, _SOURCES.c.source_class,
           _SNAPSHOTS.c.id, _SNAPSHOTS.c.version, _SNAPSHOTS.c.captured_at, _SNAPSHOTS.c.verified_at,
           _SNAPSHOTS.c.valid_until, _SNAPSHOTS.c.content_hash, _SOURCES.c.tags)
    .select_from(_SNAPSHOTS.join(_SOURCES, _SOURCES.c.active_snapshot_id == _SNAPSHOTS.c.id))
    .where(_SOURCES.c.retired_at.is_(None),
           _SNAPSHOTS.c.state == literal_column(f"'{SnapshotState.ACTIVE.value}'"))
)


@dataclass(frozen=True)
class ActiveSnapshot:
    """A live source's active snapshot, with the facts retrieval judges and records its chunks by."""

    source: SourceFacts
    snapshot: SnapshotFacts
    tags: frozenset[str]

    @property
    def id(self) -> str:
        return self.snapshot.id

    @property
    def source_id(self) -> str:
        return self.source.id

    @property
    def source_class(self) -> str:
        return self.source.source_class


@dataclass(frozen=True)
class ActiveSet:
    """Every live source's active snapshot as of one serving token, by source id."""

    token: str | None
    by_source: Mapping[str, ActiveSnapshot]
    _of_classes: dict[frozenset[str] | None, dict[str, ActiveSnapshot]] = field(
        default_factory=dict, compare=False, repr=False)

    def of_classes(self, classes: Iterable[str] | None) -> Mapping[str, ActiveSnapshot]:
        """Those of sources of these classes (None: all). Kept per set of classes: a task class asks the same."""
        if classes is None:
            return self.by_source
        key = frozenset(classes)
        found = self._of_classes.get(key)
        if found is None:
            found = {i: row for i, row in self.by_source.items() if row.source_class in key}
            # Two threads may both build it; either result is the same.
            self._of_classes[key] = found
        return found


@dataclass(frozen=True)
class Serving:
    """What one transaction sees: the active set, and what the store search must leave out (the points dead
    at or before `served_at`, and those written by the publishes in progress: sources.serving)."""

    active: ActiveSet
    served_at: int
    hidden_writers: tuple[str, ...]


class ActiveCache:
    """The process's copy of the active set; `current` revalidates it in the caller's transaction."""

    def __init__(self) -> None:
        self._held: ActiveSet | None = None

    def current(self, session: Session | Connection) -> Serving:
        """The active set as the caller's transaction sees it (the copy kept, or read again if the token
        moved), with the serving sequence number and the publishes in progress read in the same statement.

        Rows read again are kept only if the token is still the same afterwards: on PostgreSQL each
        statement of a read-committed transaction may see later commits, and an activation committed
        between the two reads would pair its snapshot with a sequence number and publishes in progress
        from before it (the search would leave out the points the snapshot wrote)."""
        conn = session if isinstance(session, Connection) else session.connection()
        while True:
            token, seq, hidden = _serving_state(conn)
            held = self._held
            if held is not None and held.token == token:
                return Serving(held, seq, hidden)
            fresh = ActiveSet(token, {row.source_id: row for row in map(_active, conn.execute(_ROWS))})
            if _serving_state(conn)[0] == token:
                self._held = fresh  # a newer token than another thread's is no matter: each read compares again
                return Serving(fresh, seq, hidden)


def _serving_state(conn: Connection) -> tuple[str | None, int, tuple[str, ...]]:
    """The serving token, the serving sequence number and the snapshots being published, in one statement."""
    token: str | None = None
    seq = 0
    hidden: list[str] = []
    for key, value in conn.exec_driver_sql(_token_sql(conn.dialect)):
        if key == SERVING_KEY:
            token = value
        elif key == SERVING_SEQ_KEY:
            seq = int(value)
        else:
            hidden.append(value)
    return token, seq, tuple(hidden)


def _active(row: Any) -> ActiveSnapshot:
    return ActiveSnapshot(SourceFacts(*row[:5]), SnapshotFacts(*row[5:11]), frozenset(row[11] or ()))


@cache
def _token_sql(dialect: Dialect) -> str:
    # Compiled once per dialect and run as text: through SQLAlchemy's execution of the statement it cost
    # several times the read itself.
    return _TOKEN.compile(dialect=dialect).string


def serving_changed(session: Session) -> None:
    """Record, in the caller's transaction, that what retrieval serves has changed: a new serving token.

    Call it after the source row is locked and the change is flushed. Every process's cached active set
    is read again at its next retrieval after this commits."""
    conn = session.connection()
    token = {"value": secrets.token_hex(16)}
    if conn.execute(_MOVE_TOKEN, token).rowcount:
        return
    try:
        # The first change ever: the row is made. A savepoint, so that losing that race to another
        # transaction (which then holds the row) keeps the rest of this one.
        with session.begin_nested():
            # Through the session: the savepoint is opened when the session hands its connection out.
            session.connection().execute(_STATE.insert(), {"key": SERVING_KEY, **token})
    except IntegrityError:
        session.connection().execute(_MOVE_TOKEN, token)


_MOVE_TOKEN = _STATE.update().where(_STATE.c.key == SERVING_KEY).values(value=bindparam("value"))
