"""Which of a set of snapshots are still the active one of a live source, checked where a record is written.

On PostgreSQL the check share-locks the sources' rows, in id order, until the transaction ends: every
change of which snapshot is active (publish, activate, retire) is made under an update lock of the
source row, so none can slip in before the audit record commits. SQLite's write lock, held since the
transaction began, does the same.

Lock order: a transaction that writes audit records takes every source lock it needs first, in one
statement in id order, and the audit chain head last (audit.writer; `still_active_then_head` takes both, on
PostgreSQL in one statement whose head lock waits for the sources' locks). The group commit checks the
union of its batch's snapshots before its first record, and the locked attempt locks its sources
before it writes; so no writer of records holds the head while it waits for a source that an owner's
activation holds, and no cycle of waits can form.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any, cast

from sqlalchemy import ColumnClause, Connection, Select, Table, bindparam, func, literal_column, select
from sqlalchemy.orm import Session

from freshness.audit.writer import LOCK_HEAD, ChainHead, lock_head
from freshness.models import Snapshot, SnapshotState, Source
from freshness.retrieval.prepared import prepared

_SOURCES = cast(Table, Source.__table__)
_SNAPSHOTS = cast(Table, Snapshot.__table__)
# The state is written into the statement, not bound: SQLite plans `state = 'active'` better than
# `state = ?` (it ran in half the time).
_ACTIVE_STATE: ColumnClause[str] = literal_column(f"'{SnapshotState.ACTIVE.value}'")
_LIVE_ACTIVE = (
    select(_SNAPSHOTS.c.id)
    .select_from(_SNAPSHOTS.join(_SOURCES, _SOURCES.c.active_snapshot_id == _SNAPSHOTS.c.id))
    .where(_SOURCES.c.retired_at.is_(None), _SNAPSHOTS.c.state == _ACTIVE_STATE)
)
_MANY = 1024  # more ids than this (never seen in one batch) go through SQLAlchemy's expanding IN


def still_active(session: Session | Connection, snapshot_ids: Set[str]) -> frozenset[str]:
    """Those of `snapshot_ids` that are the active snapshot of a live source, their sources locked until commit."""
    if not snapshot_ids:
        return frozenset()
    conn = session if isinstance(session, Connection) else session.connection()
    ids = sorted(snapshot_ids)
    postgres = conn.dialect.name == "postgresql"
    if len(ids) > _MANY:
        query = _statement(bindparam("ids", expanding=True), postgres)
        return frozenset(conn.scalars(query, {"ids": ids}))
    # Each write of audit records asks this: compiled once (retrieval.prepared), its cost is that of the read.
    statement = prepared(_locking if postgres else _of_ids, conn.dialect, ids=len(ids))
    return frozenset(conn.exec_driver_sql(statement.sql, statement.parameters(ids=ids)).scalars())


def _statement(ids: Any, postgres: bool) -> Select[tuple[str]]:
    query = _LIVE_ACTIVE.where(_SNAPSHOTS.c.id.in_(ids))
    # Locks the source rows only, in id order: the order every writer takes them (source row, then its snapshots).
    return query.order_by(_SOURCES.c.id).with_for_update(read=True, of=_SOURCES) if postgres else query


def _of_ids(ids: Any) -> Select[tuple[str]]:
    return _statement(ids, postgres=False)


def _locking(ids: Any) -> Select[tuple[str]]:
    return _statement(ids, postgres=True)


def still_active_then_head(conn: Connection, snapshot_ids: Set[str]) -> tuple[frozenset[str], ChainHead]:
    """`still_active`, then the audit chain head locked (audit.writer.lock_head), in that order.

    On PostgreSQL one statement, one round trip: the sources' locks are taken in a materialised CTE, and
    the head's row qualifies for its lock only once that CTE has been read to the end, so the head is
    locked after every source, as two statements would."""
    if conn.dialect.name != "postgresql" or len(snapshot_ids) > _MANY:
        return still_active(conn, snapshot_ids), lock_head(conn)
    ids = sorted(snapshot_ids) or [""]  # no snapshot is named "": the head alone is locked
    statement = prepared(_locking_then_head, conn.dialect, ids=len(ids))
    row = conn.exec_driver_sql(statement.sql, statement.parameters(ids=ids)).first()
    if row is None:
        raise RuntimeError("the audit chain head is missing; run `freshness db upgrade`")
    return frozenset(row[2] or ()), (row[0], row[1])


def _locking_then_head(ids: Any) -> Select[Any]:
    live = _locking(ids).cte("live").prefix_with("MATERIALIZED")
    read_through = select(func.count()).select_from(live).scalar_subquery() >= 0
    head = LOCK_HEAD.where(read_through).cte("head")
    return select(head.c.seq, head.c.last_hash, select(func.array_agg(live.c.id)).scalar_subquery())
